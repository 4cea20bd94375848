import hashlib
import json
import random
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from portal.core import context

from .models import Action, AuditChainHead, AuditEvent, Outcome

GENESIS = "0" * 64


def _digest(prev_hash: str, fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def event_fields(event: AuditEvent) -> dict:
    return {
        "at": event.at.isoformat(),
        "user_id": event.user_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": str(event.object_id),
        "patient_id": event.patient_id,
        "ip": event.ip,
        "request_id": event.request_id,
        "outcome": event.outcome,
    }


def audit_record(
    *,
    user,
    action: Action,
    object_type: str,
    object_id="",
    patient_id: int | None = None,
    outcome: Outcome = Outcome.OK,
) -> AuditEvent:
    ctx = context.current()
    event = AuditEvent(
        at=timezone.now(),
        user_id=getattr(user, "pk", None),
        action=action,
        object_type=object_type,
        object_id=str(object_id or ""),
        patient_id=patient_id,
        ip=ctx.ip,
        request_id=ctx.request_id,
        outcome=outcome,
    )
    with transaction.atomic():
        head = _lock_a_head()
        event.chain = head.pk
        event.prev_hash = head.last_hash
        event.hash = _digest(event.prev_hash, event_fields(event))
        event.save()
        head.last_hash = event.hash
        head.save(update_fields=["last_hash"])
    return event


def _lock_a_head() -> AuditChainHead:
    """Any chain head no other transaction holds (SKIP LOCKED), so concurrent appends do not wait for
    each other; when all are held (more writers than chains), wait for a random one. The lock lasts
    until the caller's outermost transaction commits, which keeps each chain's `id` order its append
    order. Heads are created on first use (a flushed test database has none)."""
    chains = settings.NAEVUS_AUDIT_CHAINS
    heads = AuditChainHead.objects.filter(pk__lte=chains)
    free = heads.select_for_update(skip_locked=True).order_by("pk")
    head = free.first()
    if head is None and heads.count() < chains:
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(pk=pk, last_hash=GENESIS) for pk in range(1, chains + 1)], ignore_conflicts=True
        )
        head = free.first()
    return head or heads.select_for_update().get(pk=random.randint(1, chains))


@dataclass
class AuditDamage:
    """What `audit_verify` found: rows whose hash or link does not match, and chains whose head does not
    name their last row (a row cut off the end, or rows added around the service). Empty when intact."""

    rows: list[int] = field(default_factory=list)
    chains: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) + len(self.chains)


def audit_verify() -> AuditDamage:
    """Walks every chain in append order. Any edit breaks the row's hash, any deletion, reordering
    or insertion inside a chain breaks the next row's link, and at a chain's end the head must
    name the last row. Rows and heads are read in one snapshot (REPEATABLE READ on PostgreSQL):
    an append committed between the two reads would otherwise look like a row added around the head."""
    damage = AuditDamage()
    last = {}
    outermost = not connection.in_atomic_block  # inside a caller's transaction, its isolation holds
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for event in AuditEvent.objects.order_by("chain", "id").iterator(chunk_size=2000):
            prev = last.get(event.chain, GENESIS)
            if event.prev_hash != prev or event.hash != _digest(event.prev_hash, event_fields(event)):
                damage.rows.append(event.pk)
            last[event.chain] = event.hash
        heads = dict(AuditChainHead.objects.values_list("pk", "last_hash"))
    for chain in sorted(set(heads) | set(last)):
        if heads.get(chain) != last.get(chain, GENESIS):
            damage.chains.append(chain)
    damage.rows.sort()
    return damage
