"""A lesion's visits over time: one definition, in Python, for the follow-up comparison and for the
worklist's "crossed the threshold" mark, so that the list and the comparison never disagree.

- a visit is one image of the lesion that has a done result; its date is when the image was taken
  (`captured_at`), else when it was uploaded; visits are ordered by that date, then by the image's id;
- a visit's result is the image's newest done prediction (a rerun with another version replaces it);
- crossed upward: the earlier visit's probability was below the threshold its risk was decided on (its
  model version's, or the clinic's operating point for that version) and the later visit's is at or above
  its own. Each side is judged on its own threshold: two versions do not share a scale."""

from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce

from classifier.models import Prediction


def _visit_rows(**lesions) -> QuerySet[Prediction]:
    return (
        Prediction.objects.filter(
            **lesions, status=Prediction.Status.DONE, melanoma_probability__isnull=False, threshold__isnull=False
        )
        .annotate(visit_at=Coalesce("image__captured_at", "image__uploaded_at"), lesion_id=F("image__lesion_id"))
        .order_by("-visit_at", "-image_id", "-finished_at", "-id")
    )


def visit_results(*, lesion) -> QuerySet[Prediction]:
    """Every done result of the lesion, newest visit first and, within one image, newest result first: the
    first row per image is that visit's result."""
    return _visit_rows(image__lesion=lesion)


def crossed_upward(*, earlier: Prediction, later: Prediction) -> bool:
    return earlier.melanoma_probability < earlier.threshold and later.melanoma_probability >= later.threshold


def crossings(*, lesion_ids) -> dict[int, bool]:
    """Whether each lesion's latest visit crossed its threshold upward from the one before (`crossed_upward`
    on each lesion's two newest visits, as the comparison judges them), for a page of lesions: one query."""
    newest: dict[int, list] = {lesion_id: [] for lesion_id in lesion_ids}
    seen: set[int] = set()
    rows = _visit_rows(image__lesion__in=lesion_ids).values_list(
        "image_id", "lesion_id", "melanoma_probability", "threshold", named=True
    )
    for result in rows:  # the first row of each image is that visit's result
        if result.image_id not in seen:
            seen.add(result.image_id)
            newest[result.lesion_id].append(result)
    return {
        lesion_id: len(visits) >= 2 and crossed_upward(earlier=visits[1], later=visits[0])
        for lesion_id, visits in newest.items()
    }
