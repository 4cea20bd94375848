"""The worklist: the clinic's analysed lesions that wait for a clinician, riskiest first. One row per lesion,
its latest result (the newest image's done prediction). Scoped to the user's clinic and audited, like every
read of patient data.

Reviews do not exist yet (issue #14 item 2), so every analysed lesion is unreviewed; the filters that need
reviews, second reads or follow-up dates (disagreement, awaiting second read, follow-up due) are not built, and
"awaiting biopsy" needs a review's management decision too."""

from django.db.models import Case, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, TextChoices, Value, When
from django.db.models.functions import Coalesce

from classifier.models import Prediction
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.records.models import Lesion, LesionImage
from portal.records.models import Outcome as ClinicalOutcome
from portal.records.selectors import clinic_filter, lesion_get


class WorklistFilter(TextChoices):
    UNREVIEWED = "unreviewed", "Unreviewed"
    REFER = "refer", "Refer"


def _queue(*, user, kind: WorklistFilter) -> QuerySet[Prediction]:
    """The latest done prediction of each of the clinic's lesions, in worklist order: refer first, then the
    higher probability, then the longer wait since the result, then the id (a total order, so that "next"
    is well defined)."""
    latest = Prediction.objects.filter(
        image__lesion=OuterRef("pk"), status=Prediction.Status.DONE, melanoma_probability__isnull=False
    ).order_by("-image__uploaded_at", "-image_id", "-finished_at", "-id")
    lesions = Lesion.objects.filter(clinic_filter(user=user, field="patient__clinic")).annotate(
        latest_prediction=Subquery(latest.values("id")[:1])
    )
    qs = Prediction.objects.filter(pk__in=lesions.exclude(latest_prediction=None).values("latest_prediction"))
    if kind == WorklistFilter.REFER:
        qs = qs.filter(risk_category=Prediction.Risk.REFER)
    return qs.annotate(
        refer_rank=Case(
            When(risk_category=Prediction.Risk.REFER, then=Value(0)), default=Value(1), output_field=IntegerField()
        ),
        waiting_since=Coalesce("finished_at", "created_at"),
    ).order_by("refer_rank", F("melanoma_probability").desc(), "waiting_since", "id")


def worklist_list(*, user, kind: WorklistFilter = WorklistFilter.UNREVIEWED) -> QuerySet[Prediction]:
    audit_record(user=user, action=Action.READ, object_type="worklist", object_id=kind)
    return _queue(user=user, kind=kind).select_related("model_version", "image__lesion__patient")


def worklist_counts(*, user) -> dict[str, int]:
    audit_record(user=user, action=Action.READ, object_type="worklist_counts", object_id="")
    return {choice.value: _queue(user=user, kind=choice).count() for choice in WorklistFilter}


def worklist_next(*, user, lesion_id: int, kind: WorklistFilter) -> int | None:
    """The lesion after `lesion_id` in the queue; the queue's first when that lesion is not in it."""
    queue = _queue(user=user, kind=kind)
    current = queue.filter(image__lesion_id=lesion_id).first()
    if current is not None:
        r, p, w, i = current.refer_rank, current.melanoma_probability, current.waiting_since, current.pk
        queue = queue.filter(
            Q(refer_rank__gt=r)
            | Q(refer_rank=r, melanoma_probability__lt=p)
            | Q(refer_rank=r, melanoma_probability=p, waiting_since__gt=w)
            | Q(refer_rank=r, melanoma_probability=p, waiting_since=w, id__gt=i)
        )
    following = queue.exclude(image__lesion_id=lesion_id).values_list("image__lesion_id", flat=True).first()
    return following


def worklist_item(*, user, lesion_id: int, kind: WorklistFilter = WorklistFilter.UNREVIEWED) -> Lesion:
    """One lesion as the worklist opens it: its patient, every image (newest first) with every result, its
    outcomes, and the next lesion in the queue (`next_lesion_id`). 404 (audited) outside the clinic."""
    lesion = lesion_get(user=user, lesion_id=lesion_id, audit=False)
    predictions = Prediction.objects.select_related("model_version").order_by("-created_at", "-id")
    lesion.item_images = list(
        LesionImage.objects.filter(lesion=lesion)
        .order_by("-uploaded_at", "-id")
        .prefetch_related(Prefetch("predictions", queryset=predictions))
    )
    lesion.item_outcomes = list(ClinicalOutcome.objects.filter(lesion=lesion).order_by("-date", "-id"))
    lesion.next_lesion_id = worklist_next(user=user, lesion_id=lesion.pk, kind=kind)
    audit_record(
        user=user, action=Action.READ, object_type="worklist_item", object_id=lesion.pk, patient_id=lesion.patient_id
    )
    return lesion
