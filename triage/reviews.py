"""What a result's reads add up to: one definition for the worklist's filters (as queryset expressions) and
for one result's state (in Python), so that the list and the item never disagree.

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

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from portal.records.models import Outcome

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


def _first_reads_needing_a_second(reads: QuerySet[Review]) -> QuerySet[Review]:
    return reads.filter(kind=ReadKind.FIRST, needs_second_read=True)


def _second_reads(reads: QuerySet[Review]) -> QuerySet[Review]:
    return reads.filter(kind=ReadKind.SECOND)


def _follow_ups_due(reads: QuerySet[Review]) -> QuerySet[Review]:
    return reads.filter(management__in=[m.value for m in FOLLOW_UP_KINDS], follow_up_date__lte=timezone.localdate())


def reads_required(kind: str) -> QuerySet[Review] | None:
    """The current reads a result must have to pass review filter `kind` (a necessary condition built from the
    same pieces as the filter's aliases), so a queue can start from them; None: no read is required."""
    pieces = {
        "awaiting_second_read": _first_reads_needing_a_second,
        "disagreement": _second_reads,
        "follow_up_due": _follow_ups_due,
    }
    return pieces[kind](current_reviews()) if kind in pieces else None


def annotate_reads(qs: QuerySet, *, prediction: str = "pk", names=None) -> QuerySet:
    """Adds has_first, awaiting_second_read, disagreement and follow_up_due to a queryset of predictions
    (`prediction` is the path to the prediction's id) as aliases: usable in filters, never selected. `names`
    limits them to what a filter reads (`READS_USED_BY`): building the unused correlated subqueries was most of a
    worklist count's time at 40,000 lesions."""
    mine = current_reviews().filter(prediction=OuterRef(prediction))
    first, second = mine.filter(kind=ReadKind.FIRST), _second_reads(mine)
    expressions = {
        "has_first": lambda: Exists(first),
        "first_needs_second": lambda: Exists(_first_reads_needing_a_second(mine)),
        "has_second": lambda: Exists(second),
        "has_resolution": lambda: Exists(mine.filter(kind__in=[ReadKind.THIRD, ReadKind.CONSENSUS])),
        "first_assessment": lambda: Subquery(first.values("assessment")[:1]),
        "first_management": lambda: Subquery(first.values("management")[:1]),
        "second_assessment": lambda: Subquery(second.values("assessment")[:1]),
        "second_management": lambda: Subquery(second.values("management")[:1]),
        "follow_up_due": lambda: Exists(_follow_ups_due(mine)),
    }
    return qs.alias(**{name: expressions[name]() for name in (expressions if names is None else names)})


def annotate_biopsy(qs: QuerySet, *, lesion: str = "image__lesion") -> QuerySet:
    """Adds decided_management (the lesion's latest signed current read's) and biopsy_answered (an outcome
    recorded since it was signed) to a queryset of predictions (`lesion` is the path to the lesion's id), as
    aliases (filters only)."""
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


# The aliases of annotate_reads that each review filter reads (the filters just below and `unreviewed_q`).
READS_USED_BY = {
    "unreviewed": ("has_first",),
    "awaiting_second_read": ("first_needs_second", "has_second"),
    "disagreement": (
        "has_first", "has_second", "has_resolution", "first_assessment", "first_management", "second_assessment",
        "second_management",
    ),
    "follow_up_due": ("follow_up_due",),
}  # fmt: skip


def unreviewed_q() -> Q:
    return Q(has_first=False)


def follow_up_due_q() -> Q:
    return Q(follow_up_due=True)


def awaiting_second_read_q() -> Q:
    return Q(first_needs_second=True, has_second=False)


def disagreement_q() -> Q:
    differs = ~Q(first_assessment=F("second_assessment")) | ~Q(first_management=F("second_management"))
    return Q(has_first=True, has_second=True, has_resolution=False) & differs


def state_of(reads: list[Review]) -> str:
    """The state of one result from its current reads (the same rules as the Q objects above)."""
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
