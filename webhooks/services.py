"""Webhook events: recorded as deliveries, sent by a Celery task, retried with backoff.

At least once: the database holds every delivery; a task claims one (pending and due → sending) before
it sends, so two messages for one delivery never send it twice at the same time, and the sweeper
publishes due deliveries whose message was lost. Receivers deduplicate by `Naevus-Delivery`.
Nothing here runs inside a clinician's request: events are recorded after the commit that caused them
and sent by a worker."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
import requests.adapters
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from portal.core.exceptions import ApplicationError

from . import signing
from .models import Delivery, Endpoint, Event

logger = logging.getLogger(__name__)


def _setting(name: str, default):
    return getattr(settings, name, default)


def backoff_seconds(attempts: int) -> float:
    """Wait before attempt `attempts + 1`: base, 2×base, 4×base … capped."""
    base = float(_setting("NAEVUS_WEBHOOK_BACKOFF_SECONDS", 30))
    return min(base * 2 ** max(attempts - 1, 0), float(_setting("NAEVUS_WEBHOOK_BACKOFF_MAX_SECONDS", 3600)))


def endpoint_url_check(url: str) -> str:
    """Refuses what a clinic admin must not make the server call: another scheme than https (http only
    where `NAEVUS_WEBHOOK_ALLOW_HTTP`), and a host that resolves to a loopback, private, link-local or
    otherwise non-public address (the cloud metadata service, the database, Redis), unless
    `NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS` (a hospital's receiver on its own network). Checked when an
    endpoint is saved and again before each attempt (the name may resolve elsewhere by then). Returns the
    checked address the attempt must connect to (`_post_pinned`): resolving the name a second time to
    connect would let a DNS answer that changed in between (rebinding) reach an address never checked."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if _setting("NAEVUS_WEBHOOK_ALLOW_HTTP", False) else {"https"}
    if parts.scheme not in allowed or not parts.hostname:
        raise ApplicationError(
            f"Webhook URLs must use {' or '.join(sorted(allowed))}.", code="webhook_url_scheme", status=400
        )
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise ApplicationError("The webhook host does not resolve.", code="webhook_url_host", status=400) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not _setting("NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", False) and not all(a.is_global for a in addresses):
        raise ApplicationError(
            "The webhook host resolves to a non-public address; "
            "set NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS to send inside your network.",
            code="webhook_url_private",
            status=400,
        )
    return str(addresses[0])


class _PinnedHostAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with TLS (SNI and the certificate's name) checked against `hostname` while the
    connection goes to an address literal."""

    def __init__(self, hostname: str):
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def _post_pinned(url: str, address: str, *, headers: dict, **kwargs) -> requests.Response:
    """POSTs to `url` over a connection to `address` (the one `endpoint_url_check` approved): the URL's host
    goes in the Host header and, for https, in SNI and the certificate check. requests and urllib3 do the
    HTTP and TLS; only where they connect is fixed here."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{netloc}" if userinfo else netloc
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    with requests.Session() as session:
        session.mount(f"{parts.scheme}://", _PinnedHostAdapter(parts.hostname))
        return session.post(parts._replace(netloc=netloc).geturl(), headers={**headers, "Host": host}, **kwargs)


def event_emit(*, clinic_id: int, event: Event, data: dict) -> list[int]:
    """One delivery per active endpoint of the clinic subscribed to `event`, published after the commit."""
    endpoints = [e for e in Endpoint.objects.filter(clinic_id=clinic_id, is_active=True) if event.value in e.events]
    if not endpoints:
        return []
    now = timezone.now()
    created = [
        Delivery.objects.create(
            endpoint=endpoint,
            event=event.value,
            payload={
                "id": str(uuid.uuid4()),
                "event": event.value,
                "created_at": now.isoformat(),
                "clinic_id": clinic_id,
                "data": data,
            },
            next_attempt_at=now,
        )
        for endpoint in endpoints
    ]
    ids = [d.pk for d in created]
    transaction.on_commit(lambda: deliveries_publish(ids))
    logger.info("webhook event %s recorded: deliveries %s", event.value, ids)
    return ids


def deliveries_publish(ids: list[int], *, countdown: float | None = None) -> None:
    from .tasks import deliver

    for delivery_id in ids:
        try:
            deliver.apply_async((delivery_id,), countdown=countdown)
        except Exception:  # the broker is away: the sweeper publishes it later
            logger.warning("webhook delivery %s not published; the sweeper will", delivery_id, exc_info=True)


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    status: str
    retry_in: float | None  # seconds until the next attempt; None: no further attempt


def _claim(delivery_id: int) -> Delivery | None:
    now = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now).update(
        status=Delivery.Status.SENDING, attempts=F("attempts") + 1, last_attempt_at=now
    )
    return Delivery.objects.select_related("endpoint").get(pk=delivery_id) if claimed else None


def delivery_attempt(delivery_id: int) -> Attempt | None:
    """Sends the delivery once if it is pending and due (None otherwise: another message has it, or it
    is done). A 2xx answer delivers it; anything else, a timeout or a refused connection schedules the
    next attempt, until `NAEVUS_WEBHOOK_MAX_ATTEMPTS`."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    status_code, error = None, ""
    if not endpoint.is_active:
        error = "endpoint disabled"
    else:
        try:
            address = endpoint_url_check(endpoint.url)
            response = _post_pinned(
                endpoint.url,
                address,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "Naevus-Webhooks/1",
                    "Naevus-Event": delivery.event,
                    "Naevus-Delivery": delivery.payload["id"],
                    signing.HEADER: signing.signature(endpoint.secret, body, int(time.time())),
                },
                timeout=(
                    float(_setting("NAEVUS_WEBHOOK_CONNECT_TIMEOUT", 5)),
                    float(_setting("NAEVUS_WEBHOOK_READ_TIMEOUT", 10)),
                ),
                allow_redirects=False,
            )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except ApplicationError as exc:
            error = exc.message
        except requests.RequestException as exc:
            error = type(exc).__name__
    now = timezone.now()
    if not error:
        fields = dict(status=Delivery.Status.DELIVERED, delivered_at=now, response_status=status_code, error="")
        retry_in = None
    elif delivery.attempts >= int(_setting("NAEVUS_WEBHOOK_MAX_ATTEMPTS", 8)) or not endpoint.is_active:
        fields = dict(status=Delivery.Status.FAILED, response_status=status_code, error=error[:300])
        retry_in = None
    else:
        retry_in = backoff_seconds(delivery.attempts)
        fields = dict(
            status=Delivery.Status.PENDING,
            response_status=status_code,
            error=error[:300],
            next_attempt_at=now + timedelta(seconds=retry_in),
        )
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(**fields)
    logger.info(
        "webhook delivery %s attempt %s: %s (%s)",
        delivery.pk,
        delivery.attempts,
        fields["status"],
        status_code or error or "ok",
    )
    return Attempt(delivery_id=delivery.pk, status=fields["status"], retry_in=retry_in)


def deliveries_sweep(*, now=None) -> int:
    """What the beat runs: a delivery left `sending` by a worker that died goes back to pending, and
    every pending delivery overdue by more than the grace (its message lost: a Redis restart, a flush)
    is published again. Returns how many were published."""
    now = now or timezone.now()
    stuck_after = float(_setting("NAEVUS_WEBHOOK_READ_TIMEOUT", 10)) + float(
        _setting("NAEVUS_WEBHOOK_CONNECT_TIMEOUT", 5)
    )
    Delivery.objects.filter(
        status=Delivery.Status.SENDING, last_attempt_at__lt=now - timedelta(seconds=stuck_after + 60)
    ).update(status=Delivery.Status.PENDING, next_attempt_at=now)
    grace = timedelta(seconds=float(_setting("NAEVUS_WEBHOOK_SWEEP_GRACE_SECONDS", 60)))
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=now - grace).values_list(
            "pk", flat=True
        )[:1000]
    )
    deliveries_publish(due)
    if due:
        logger.info("webhook sweep published %s overdue deliveries", len(due))
    return len(due)
