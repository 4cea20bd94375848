"""A lesion's visits over time: one definition for the follow-up comparison (in Python) and for the
worklist's "crossed the threshold" mark (as queryset expressions), so that the list and the comparison
never disagree.

- a visit is one image of the lesion that has a done result; its date is when the image was taken
  (`captured_at`), else when it was uploaded; visits are ordered by that date, then by the image's id;
- a visit's result is the image's newest done prediction (a rerun with another version replaces it);
- crossed upward: the earlier visit's probability was below the threshold its risk was decided on (its
  model version's, or the clinic's operating point for that version) and the later visit's is at or above
  its own. Each side is judged on its own threshold: two versions do not share a scale."""

from django.db.models import BooleanField, Case, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from classifier.models import Prediction


def visit_results(*, lesion) -> QuerySet[Prediction]:
    """Every done result of the lesion (an id or an OuterRef), newest visit first and, within one image,
    newest result first: the first row per image is that visit's result."""
    return (
        Prediction.objects.filter(
            image__lesion=lesion,
            status=Prediction.Status.DONE,
            melanoma_probability__isnull=False,
            threshold__isnull=False,
        )
        .annotate(visit_at=Coalesce("image__captured_at", "image__uploaded_at"))
        .order_by("-visit_at", "-image_id", "-finished_at", "-id")
    )


def crossed_upward(*, earlier: Prediction, later: Prediction) -> bool:
    return earlier.melanoma_probability < earlier.threshold and later.melanoma_probability >= later.threshold


def annotate_crossing(qs: QuerySet, *, lesion: str = "image__lesion") -> QuerySet:
    """Adds crossed_threshold_upward (between the lesion's two latest visits) to a queryset (`lesion` is
    the path to the lesion's id): five correlated subqueries, whatever the size."""
    visits = visit_results(lesion=OuterRef(lesion))
    qs = qs.annotate(
        last_visit_image=Subquery(visits.values("image_id")[:1]),
        last_probability=Subquery(visits.values("melanoma_probability")[:1]),
        last_threshold=Subquery(visits.values("threshold")[:1]),
    )
    previous = visit_results(lesion=OuterRef(lesion)).exclude(image_id=OuterRef("last_visit_image"))
    qs = qs.annotate(
        previous_probability=Subquery(previous.values("melanoma_probability")[:1]),
        previous_threshold=Subquery(previous.values("threshold")[:1]),
    )
    return qs.annotate(
        crossed_threshold_upward=Case(
            When(
                Q(previous_probability__lt=F("previous_threshold"), last_probability__gte=F("last_threshold")),
                then=Value(True),
            ),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
