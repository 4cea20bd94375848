"""What a result's reads add up to: one definition (in Python, `state_of`), stored on the result whenever its
reads change (`review_fields_refresh`) so that the worklist's queues read it through an index, and the item
shows the same state as the list.

- current read: a signed review that no signed review supersedes;
- awaiting second read: the current first read needs one and no second read is signed;
- disagreement: the current first and second reads differ in assessment or in management, and no third
  read or consensus note is signed;
- follow-up due: a current read's follow-up date has come (the lesion's newest result: a new visit
  replaces the item);
- awaiting biopsy: the lesion's latest signed current read, of any of its results, decided excision/biopsy or
  an urgent referral, and no outcome was recorded for the lesion since that read was signed (an outcome
  recorded earlier, e.g. an old biopsy, does not answer a new decision). A new visit does not answer it."""

import hashlib

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from portal.records.models import Lesion, LesionImage, Outcome

from .models import BIOPSY_KINDS, FOLLOW_UP_KINDS, Assessment, ReadKind, Review

STATES = ("unreviewed", "awaiting_second_read", "disagreement", "resolved", "complete")


def model_agrees(*, risk: str, assessment: str) -> bool:
    """A refer agrees with a suspicious or malignant assessment; a routine result with a benign one."""
    return (risk == "refer") == (assessment != Assessment.BENIGN)


def share_draw(review_id: int) -> float:
    """A number in [0, 1) fixed by the review's id: the "random share" is reproducible and testable."""
    return int.from_bytes(hashlib.sha256(f"naevus-second-read:{review_id}".encode()).digest()[:8], "big") / 2**64


def current_reviews() -> QuerySet[Review]:
    newer = Review.objects.filter(supersedes=OuterRef("pk"), signed_at__isnull=False)
    return Review.objects.filter(signed_at__isnull=False).exclude(Exists(newer))


def annotate_biopsy(qs: QuerySet, *, lesion: str = "image__lesion") -> QuerySet:
    """Adds decided_management (the lesion's latest signed current read's) and biopsy_answered (an outcome
    recorded since it was signed) to a queryset (`lesion` is the path to the lesion's id), as aliases (filters
    only)."""
    # The latest signed read is always a current one: an amendment is signed after the read it supersedes.
    signed = Review.objects.filter(signed_at__isnull=False, prediction__image__lesion=OuterRef(lesion))
    latest = signed.order_by("-signed_at", "-id")
    qs = qs.alias(
        decided_management=Subquery(latest.values("management")[:1]),
        decided_at=Subquery(latest.values("signed_at")[:1]),
    )
    answered = Outcome.objects.filter(lesion=OuterRef(lesion), created_at__gte=OuterRef("decided_at"))
    return qs.alias(biopsy_answered=Exists(answered))


def awaiting_biopsy_q() -> Q:
    return Q(decided_management__in=[m.value for m in BIOPSY_KINDS], biopsy_answered=False)


def follow_up_due_on(reads: list[Review]):
    """The earliest follow-up date of a result's current reads (None: no follow-up decided): the item is due
    from that day."""
    return min((r.follow_up_date for r in reads if r.management in FOLLOW_UP_KINDS and r.follow_up_date), default=None)


def review_fields_refresh(*, prediction_ids) -> None:
    """Stores each result's state and follow-up date (`Prediction.review_state`, `.follow_up_due_on`: what the
    worklist's queues read through an index) from its current reads, and the biopsy state of its lesion.
    Run on every save and delete of a review (triage/receivers.py), in the same transaction, with the results
    locked (`results_lock`), so that two reads signed at once leave the state of the later."""
    from classifier.models import Prediction

    ids = sorted({pk for pk in prediction_ids if pk is not None})
    if not ids:
        return
    with transaction.atomic():
        lesion_ids = results_lock(prediction_ids=ids)
        rows = list(Prediction.objects.filter(pk__in=ids).only("id"))
        reads: dict[int, list[Review]] = {pk: [] for pk in ids}
        for review in current_reviews().filter(prediction_id__in=ids):
            reads[review.prediction_id].append(review)
        for row in rows:
            row.review_state, row.follow_up_due_on = state_of(reads[row.pk]), follow_up_due_on(reads[row.pk])
        Prediction.objects.bulk_update(rows, ["review_state", "follow_up_due_on"], batch_size=1000)
        _biopsy_pending_store(lesion_ids)  # the lesions are locked already


def results_lock(*, prediction_ids) -> list[int]:
    """Locks results for a change of their reads, their lesions first (in id order) and then the results: the
    order in which a worker storing a lesion's new result takes them (classifier.models.lesion_latest_refresh
    locks the lesion, then flags its results), so that a read signed while a new visit is stored waits instead
    of deadlocking. Returns the lesions' ids. Inside the caller's transaction."""
    from classifier.models import Prediction

    images = LesionImage.objects.filter(predictions__pk__in=prediction_ids)
    lesion_ids = sorted({pk for pk in images.values_list("lesion_id", flat=True) if pk is not None})
    list(Lesion.objects.select_for_update(no_key=True).filter(pk__in=lesion_ids).order_by("pk").values_list("pk"))
    list(Prediction.objects.select_for_update().filter(pk__in=prediction_ids).order_by("pk").values_list("pk"))
    return lesion_ids


def biopsy_pending_refresh(*, lesion_ids) -> None:
    """Stores whether each lesion awaits a biopsy (`Lesion.biopsy_pending`, the definition above, and its copy on
    the lesion's current result, which the queue reads). Run on every save and delete of an outcome, with the
    lesions locked (a review's receiver runs `_biopsy_pending_store` under `results_lock`)."""
    ids = sorted({pk for pk in lesion_ids if pk is not None})
    if not ids:
        return
    with transaction.atomic():
        # The lock classifier.models.lesion_latest_refresh takes: a result that becomes current meanwhile copies
        # the flag as committed here.
        list(Lesion.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))
        _biopsy_pending_store(ids)


def _biopsy_pending_store(ids: list[int]) -> None:
    from classifier.models import Prediction

    if not ids:
        return
    pending = set(
        annotate_biopsy(Lesion.objects.filter(pk__in=ids), lesion="pk")
        .filter(awaiting_biopsy_q())
        .values_list("pk", flat=True)
    )
    answered = set(ids) - pending
    Lesion.objects.filter(pk__in=pending, biopsy_pending=False).update(biopsy_pending=True)
    Lesion.objects.filter(pk__in=answered, biopsy_pending=True).update(biopsy_pending=False)
    current = Prediction.objects.filter(lesion_latest=True)
    current.filter(image__lesion_id__in=pending, biopsy_pending=False).update(biopsy_pending=True)
    current.filter(image__lesion_id__in=answered, biopsy_pending=True).update(biopsy_pending=False)


def state_of(reads: list[Review]) -> str:
    """The state of one result from its current reads: the one definition, stored on each result by
    `review_fields_refresh` for the worklist's queues."""
    by_kind = {review.kind: review for review in reads}
    first, second = by_kind.get(ReadKind.FIRST), by_kind.get(ReadKind.SECOND)
    if first is None:
        return "unreviewed"
    if first.needs_second_read and second is None:
        return "awaiting_second_read"
    if second is not None and (first.assessment, first.management) != (second.assessment, second.management):
        resolved = ReadKind.THIRD in by_kind or ReadKind.CONSENSUS in by_kind
        return "resolved" if resolved else "disagreement"
    return "complete"
