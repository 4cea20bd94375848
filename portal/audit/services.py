import hashlib
import json

from django.db import transaction
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
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1, defaults={"last_hash": GENESIS})
        event.prev_hash = head.last_hash
        event.hash = _digest(event.prev_hash, event_fields(event))
        event.save()
        head.last_hash = event.hash
        head.save(update_fields=["last_hash"])
    return event


def audit_verify() -> list[int]:
    """Ids of rows whose hash or link does not match: empty when the chain is intact."""
    broken = []
    prev = GENESIS
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != prev or event.hash != _digest(event.prev_hash, event_fields(event)):
            broken.append(event.pk)
        prev = event.hash
    return broken
