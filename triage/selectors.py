"""The worklist: the clinic's analysed lesions that wait for a clinician, riskiest first. One row per lesion,
its latest result (the newest image's done prediction). Scoped to the user's clinic and audited, like every
read of patient data. The filters that read reviews (unreviewed, awaiting second read, disagreement,
follow-up due, awaiting biopsy) share their definitions with one result's state (triage/reviews.py); a row's
"crossed the threshold" mark shares its definition with the follow-up comparison (triage/followup.py)."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Prefetch, Q, QuerySet, TextChoices
from django.utils import timezone

from classifier.models import CURRENT_RESULT, OUTLIER_KEY, REFER_RANK, WAITING_SINCE, Prediction
from portal.accounts.selectors import user_clinic
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.clinic_changes import clinic_stamp
from portal.core.exceptions import ApplicationError
from portal.records.models import Lesion, LesionImage
from portal.records.models import Outcome as ClinicalOutcome
from portal.records.selectors import _deny, clinic_filter, lesion_get

from .followup import crossed_upward, crossings, visit_results
from .models import ReadKind, Review
from .reviews import state_of

logger = logging.getLogger(__name__)


class WorklistFilter(TextChoices):
    UNREVIEWED = "unreviewed", "Unreviewed"
    REFER = "refer", "Refer, unreviewed"
    AWAITING_SECOND_READ = "awaiting_second_read", "Awaiting second read"
    DISAGREEMENT = "disagreement", "Disagreement between readers"
    FOLLOW_UP_DUE = "follow_up_due", "Follow-up due"
    AWAITING_BIOPSY = "awaiting_biopsy", "Awaiting biopsy"


class WorklistSort(TextChoices):
    RISK = "risk", "Risk (refer first, then probability, then waiting time)"
    OUTLIER = "outlier", "Odd one out among the patient's lesions first, then risk"


# (annotation or field, descending) in queue order: a total order (the id last), so that "next" is well defined.
_RISK_ORDER = (("refer_rank", False), ("melanoma_probability", True), ("waiting_since", False), ("id", False))
_ORDER = {
    WorklistSort.RISK: _RISK_ORDER,
    # Lesions never compared (patients with fewer than 3 analysed lesions) come after every compared one.
    WorklistSort.OUTLIER: (("outlier_key", True), *_RISK_ORDER),
}


def _queue(*, user, kind: WorklistFilter, sort: WorklistSort = WorklistSort.RISK) -> QuerySet[Prediction]:
    """The latest done prediction of each of the clinic's lesions, in worklist order: refer first, then the
    higher probability, then the longer wait since the result, then the id; sorted by outlier, the lesions
    that differ most from the patient's others come first and risk orders the rest (`_ORDER`)."""
    # Each lesion's current result is flagged when it is stored (classifier.models.lesion_latest_refresh), and its
    # reads' state and follow-up date are stored on it whenever a read changes (triage/reviews.py::
    # review_fields_refresh), as is its lesion's pending biopsy: a queue is one range of a partial index
    # (classifier.models: prediction_worklist_*, prediction_follow_up_due) instead of every lesion's reads
    # evaluated per request (bench/api_load.py measures it: 170–360 ms a page at 40,000 lesions before).
    qs = (
        Prediction.objects.filter(clinic_filter(user=user, field="clinic"), CURRENT_RESULT)
        .annotate(refer_rank=REFER_RANK, waiting_since=WAITING_SINCE, outlier_key=OUTLIER_KEY)
        .filter(
            {
                WorklistFilter.UNREVIEWED: Q(review_state="unreviewed"),
                # Refer as the index's expression (refer_rank 0 ⇔ risk_category "refer"), so the count reads it.
                WorklistFilter.REFER: Q(review_state="unreviewed", refer_rank=0),
                WorklistFilter.AWAITING_SECOND_READ: Q(review_state="awaiting_second_read"),
                WorklistFilter.DISAGREEMENT: Q(review_state="disagreement"),
                WorklistFilter.FOLLOW_UP_DUE: Q(follow_up_due_on__lte=timezone.localdate()),
                WorklistFilter.AWAITING_BIOPSY: Q(biopsy_pending=True),
            }[kind]
        )
    )
    return qs.order_by(*(F(name).desc() if descending else F(name).asc() for name, descending in _ORDER[sort]))


def _after(queue: QuerySet[Prediction], current: dict, sort: WorklistSort) -> QuerySet[Prediction]:
    """The rows after the row with keys `current` in `sort`'s order (keyset: equal on the first keys, past it on
    the next)."""
    after = Q(pk__in=[])
    for position, (name, descending) in enumerate(_ORDER[sort]):
        same = {key: current[key] for key, _ in _ORDER[sort][:position]}
        after |= Q(**same, **{f"{name}__{'lt' if descending else 'gt'}": current[name]})
    return queue.filter(after)


class QueuePages:
    """The queue as the paginator slices it: a slice reads the page's ids in queue order from the queue's index
    (the result's own columns only), then those rows with their lesion, patient and model version by primary key.
    Joined before the sort, a queue that is sorted rather than read in index order (the follow-ups due, the
    outlier order of a filtered queue) fetched every candidate row's joins: 16–160 ms a page at 40,000 lesions
    against ~2 ms this way."""

    def __init__(self, queue: QuerySet[Prediction]) -> None:
        self.queue = queue

    def __getitem__(self, page: slice) -> list[Prediction]:
        ids = list(self.queue.values_list("pk", flat=True)[page])
        rows = (
            Prediction.objects.select_related("model_version", "image__lesion__patient")
            .defer(*_UNLISTED)
            .annotate(waiting_since=WAITING_SINCE)
            .in_bulk(ids)
        )
        return [rows[pk] for pk in ids]

    def __len__(self) -> int:  # the paginator is given the count (worklist_total); a plain len() counts
        return self.queue.count()


def worklist_list(
    *, user, kind: WorklistFilter = WorklistFilter.UNREVIEWED, sort: WorklistSort = WorklistSort.RISK
) -> QueuePages:
    """The queue, to be paginated (its total from the cached counts, `worklist_total`); each page's rows then get
    their marks (`worklist_page_marks`), judged in Python on the page's lesions only."""
    audit_record(user=user, action=Action.READ, object_type="worklist", object_id=kind)
    return QueuePages(_queue(user=user, kind=kind, sort=sort))


# What a row never shows, left in the database: the image's embedding (5 kB), the patient's notes and the model
# version's definition, metrics and plots (a trained model's are the largest JSON in the row, parsed per row otherwise).
_UNLISTED = (
    "embedding",
    "image__lesion__patient__notes",
    *(
        f"model_version__{name}"
        for name in ("preprocess", "class_names", "calibration", "metrics", "plots", "notes", "artifact_path",
                     "onnx_path", "onnx_sha256")
    ),
)  # fmt: skip


def worklist_page_marks(rows: list[Prediction]) -> list[Prediction]:
    """Sets `crossed_threshold_upward` on a page of the queue (one query, whatever the page size)."""
    crossed = crossings(lesion_ids=[row.image.lesion_id for row in rows])
    for row in rows:
        row.crossed_threshold_upward = crossed[row.image.lesion_id]
    return rows


def _counts(*, user) -> dict[str, int]:
    """Each queue's size. Cached per clinic under the clinic's change stamp (portal/core/clinic_changes.py: every
    write the product makes to results, reviews, outcomes or the review policy renews it, triage/receivers.py) and
    today's date (follow-ups fall due at midnight), for NAEVUS_WORKLIST_COUNTS_TTL seconds at most: computing them
    took 85 ms in-process at 40,000 lesions (six COUNTs of 1–14 ms and building six querysets), reading a cached
    entry ~1 ms."""

    def compute() -> dict[str, int]:
        # One count per queue: each reads its own index range (one aggregate with a FILTER for refer would have to
        # read the table, 32 ms against 14 + 5 at 40,000 lesions).
        return {choice.value: _queue(user=user, kind=choice).count() for choice in WorklistFilter}

    clinic = None if user.is_superuser else user_clinic(user=user)
    ttl = settings.NAEVUS_WORKLIST_COUNTS_TTL
    if clinic is None or ttl <= 0:
        return compute()
    try:
        key = f"worklist-counts:{clinic.pk}:{timezone.localdate().isoformat()}:{clinic_stamp(clinic.pk)}"
        counts = cache.get(key)
    except Exception:  # noqa: BLE001 — a cache that is down costs the computation, never the answer
        logger.warning("worklist counts of clinic %s computed without the cache", clinic.pk, exc_info=True)
        return compute()
    if counts is None:
        counts = compute()
        try:
            cache.set(key, counts, ttl)
        except Exception:  # noqa: BLE001
            logger.warning("worklist counts of clinic %s not cached", clinic.pk, exc_info=True)
    return counts


def worklist_counts(*, user) -> dict[str, int]:
    audit_record(user=user, action=Action.READ, object_type="worklist_counts", object_id="")
    return _counts(user=user)


def worklist_total(*, user, kind: WorklistFilter) -> int:
    """The size of one queue (a page's total): the same figure as the navigation's count."""
    return _counts(user=user)[kind.value]


def worklist_next(*, user, lesion_id: int, kind: WorklistFilter, sort: WorklistSort = WorklistSort.RISK) -> int | None:
    """The lesion after `lesion_id` in the queue; the queue's first when that lesion is not in it."""
    queue = _queue(user=user, kind=kind, sort=sort)
    # Its sort keys only, unordered: a lookup by lesion, not a walk of the queue.
    current = queue.filter(image__lesion_id=lesion_id).order_by().values(*(name for name, _ in _ORDER[sort])).first()
    if current is not None:
        queue = _after(queue, current, sort)
    return queue.exclude(image__lesion_id=lesion_id).values_list("image__lesion_id", flat=True).first()


def worklist_item(
    *,
    user,
    lesion_id: int,
    kind: WorklistFilter = WorklistFilter.UNREVIEWED,
    sort: WorklistSort = WorklistSort.RISK,
) -> Lesion:
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
    lesion.next_lesion_id = worklist_next(user=user, lesion_id=lesion.pk, kind=kind, sort=sort)
    audit_record(
        user=user, action=Action.READ, object_type="worklist_item", object_id=lesion.pk, patient_id=lesion.patient_id
    )
    return lesion


def _prediction_get(*, user, prediction_id, action: Action) -> Prediction:
    prediction = (
        Prediction.objects.select_related("image__lesion")
        .filter(clinic_filter(user=user, field="image__clinic"), pk=prediction_id, image__lesion__isnull=False)
        .first()
    )
    if prediction is None:
        raise _deny(user=user, object_type="prediction", object_id=prediction_id, action=action)
    return prediction


def _visible(*, user, reviews: list[Review]) -> tuple[list[Review], int]:
    """The reviews of one result this user may see, and how many are withheld: their own always; others'
    drafts never; the first read (every version) not while its second read is awaited — the second reader
    reads blind."""
    current = [r for r in reviews if r.signed_at and not any(o.supersedes_id == r.pk and o.signed_at for o in reviews)]
    blind = state_of(current) == "awaiting_second_read"
    first_reader = next((r.reader_id for r in current if r.kind == ReadKind.FIRST), None)
    shown = [
        r
        for r in reviews
        if r.reader_id == user.pk
        or (r.signed_at and not (blind and r.kind == ReadKind.FIRST and first_reader != user.pk))
    ]
    withheld = sum(1 for r in reviews if r.signed_at) - sum(1 for r in shown if r.signed_at)
    return shown, withheld


def review_list(*, user, prediction_id) -> dict:
    """One result's reads as this user may see them, its state and the reads withheld from them."""
    prediction = _prediction_get(user=user, prediction_id=prediction_id, action=Action.READ)
    reads = reads_of(user=user, prediction=prediction)
    audit_record(
        user=user,
        action=Action.READ,
        object_type="review_list",
        object_id=prediction.pk,
        patient_id=prediction.image.lesion.patient_id,
    )
    return reads


def reads_of(*, user, prediction: Prediction) -> dict:
    """The reads of a result the caller has already scoped (and audits), as this user may see them: the list,
    the reports and the FHIR export show the same ones, each marked `is_current`."""
    reviews = list(Review.objects.filter(prediction=prediction).select_related("reader").order_by("created_at", "id"))
    shown, withheld = _visible(user=user, reviews=reviews)
    current = [r for r in reviews if r.signed_at and not any(o.supersedes_id == r.pk and o.signed_at for o in reviews)]
    for review in shown:
        review.is_current = review in current
    return {"prediction_id": prediction.pk, "state": state_of(current), "withheld": withheld, "reviews": shown}


def review_get(*, user, review_id, audit: bool = True, action: Action = Action.READ) -> Review:
    """One review, if this user may see it (else 404, audited as denied, as for another clinic's)."""
    review = (
        Review.objects.select_related("prediction__image__lesion", "reader")
        .filter(clinic_filter(user=user, field="clinic"), pk=review_id)
        .first()
    )
    if review is not None:
        siblings = list(Review.objects.filter(prediction_id=review.prediction_id))
        shown, _ = _visible(user=user, reviews=siblings)
        review = review if any(r.pk == review.pk for r in shown) else None
    if review is None:
        raise _deny(user=user, object_type="review", object_id=review_id, action=action)
    review.is_current = review.signed_at is not None and not any(
        r.supersedes_id == review.pk and r.signed_at for r in siblings
    )
    if audit:
        audit_record(
            user=user,
            action=Action.READ,
            object_type="review",
            object_id=review.pk,
            patient_id=review.prediction.image.lesion.patient_id,
        )
    return review


def prediction_for_review(*, user, prediction_id) -> Prediction:
    return _prediction_get(user=user, prediction_id=prediction_id, action=Action.CREATE)


def lesion_comparison(*, user, lesion_id, image_ids: list[int] | None = None) -> dict:
    """Two visits of one lesion (`image_ids`, else its two latest), the earlier first, with both results, the
    change in probability, the days between them and whether the later crossed its threshold upward
    (triage/followup.py); and every visit, for choosing others. 404 (audited) outside the clinic; 400 when
    a chosen image is not one of the lesion's analysed visits, or when it has fewer than two."""
    lesion = lesion_get(user=user, lesion_id=lesion_id, audit=False)
    results = visit_results(lesion=lesion.pk).select_related("model_version", "image")
    visits, seen = [], set()
    for result in results:  # the first row of each image is that visit's result
        if result.image_id not in seen:
            seen.add(result.image_id)
            visits.append(result)
    if image_ids is None:
        chosen = visits[:2]
    else:
        by_image = {p.image_id: p for p in visits}
        unknown = [i for i in image_ids if i not in by_image]
        if unknown:
            # The same answer for another clinic's image, a missing one and an unanalysed one of this lesion.
            raise ApplicationError(
                f"Image {unknown[0]} is not an analysed visit of this lesion.",
                code="not_a_visit",
                fields={"images": [f"Image {unknown[0]} is not an analysed visit of this lesion."]},
            )
        chosen = sorted((by_image[i] for i in image_ids), key=visits.index)
    if len(chosen) < 2:
        raise ApplicationError(
            "This lesion has fewer than two analysed visits to compare.", code="not_enough_visits", status=409
        )
    later, earlier = chosen
    audit_record(
        user=user, action=Action.READ, object_type="lesion_comparison", object_id=lesion.pk,
        patient_id=lesion.patient_id,
    )  # fmt: skip
    return {
        "lesion": lesion,
        "earlier": earlier,
        "later": later,
        "probability_change": later.melanoma_probability - earlier.melanoma_probability,
        "days_between": (timezone.localdate(later.visit_at) - timezone.localdate(earlier.visit_at)).days,
        "crossed_threshold_upward": crossed_upward(earlier=earlier, later=later),
        "visits": visits,
    }
