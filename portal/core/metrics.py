"""`GET /metrics`: the Prometheus endpoint for the operations team (docs/deploy.md, "Metrics").

Built on prometheus_client itself rather than django-prometheus: what matters here is computed at
scrape time from the database and the broker (the worker is another process, often another machine),
and the one in-process figure, request latency, is a single histogram; django-prometheus would add
its own middleware pair, model and cache metrics we do not need, and the same multiprocess caveats.

Two kinds of figures, each correct with several gunicorn workers:
- request counts and latencies are counted in the web process. With PROMETHEUS_MULTIPROC_DIR set
  (deploy/entrypoint.sh sets it for `web`) every worker writes its own file there and a scrape
  sums them, whichever worker answers it; without it each process would answer with its own counts.
- queue depth, workers, predictions, batches, upload-to-result times and the audit chain are read
  when scraped, from Redis and PostgreSQL, so every process answers the same.

The endpoint answers only a bearer token equal to NAEVUS_METRICS_TOKEN; with none set it does not
exist (404). No label names a patient, a user or a clinic: statuses, queue names, worker node names,
view names."""

import hmac
import logging
import os
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from portal.core.worker_liveness import queue_waiting, worker_states

logger = logging.getLogger(__name__)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Not registered globally: the endpoint builds its registry per scrape (see metrics()).
REQUEST_SECONDS = Histogram(
    "naevus_http_request_duration_seconds",
    "Requests by method, view name (never the path: it holds ids) and status code, and their latency.",
    ["method", "view", "status"],
    registry=None,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so that every answer counts, also the ones other middleware gives."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(method, view, str(response.status_code)).observe(time.perf_counter() - started)
        return response


def _queues() -> list[str]:
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted(routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


class BrokerCollector:
    """Messages waiting per Celery queue, and the workers' progress records (portal/core/worker_liveness.py,
    the ones `manage.py worker_liveness` reads) on every host."""

    def collect(self):
        from portal.celery import app

        up = GaugeMetricFamily("naevus_broker_up", "1 when the broker answered this scrape.")
        waiting = GaugeMetricFamily("naevus_queue_messages", "Messages waiting in each Celery queue.", labels=["queue"])
        workers = GaugeMetricFamily("naevus_workers", "Workers with a progress record (deleted on a clean stop).")
        progress = GaugeMetricFamily(
            "naevus_worker_last_progress_timestamp_seconds",
            "Unix time a worker last started or finished a task (or started).",
            labels=["worker"],
        )
        stalled = GaugeMetricFamily(
            "naevus_worker_stalled",
            "1 when the worker's queues hold work and it made no progress for NAEVUS_WORKER_STALL_SECONDS.",
            labels=["worker"],
        )
        try:
            with app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=3)
                for queue in _queues():
                    waiting.add_metric([queue], queue_waiting(conn.default_channel, queue))
            states = worker_states(stall_after=settings.NAEVUS_WORKER_STALL_SECONDS, host="*")
        except Exception as exc:  # noqa: BLE001 — any broker failure reads the same: it did not answer
            logger.warning("metrics: broker unreachable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        now = time.time()
        for state in states:
            progress.add_metric([state.node], now - state.idle_seconds)
            stalled.add_metric([state.node], int(state.stalled))
        workers.add_metric([], len(states))
        up.add_metric([], 1)
        yield from (up, waiting, workers, progress, stalled)


AUDIT_CACHE_KEY = "naevus:metrics:audit-verify"


def audit_chain_state() -> dict | None:
    """The last verification of the audit chain, recomputed when older than NAEVUS_METRICS_AUDIT_VERIFY_SECONDS.
    It reads every row, so it lives in the shared cache: one process verifies, every scrape reuses it;
    the scrape that finds it stale verifies while the others answer with the previous result."""
    from portal.audit.services import audit_verify

    state = cache.get(AUDIT_CACHE_KEY)
    fresh = state is not None and time.time() - state["at"] < settings.NAEVUS_METRICS_AUDIT_VERIFY_SECONDS
    if fresh or not cache.add(f"{AUDIT_CACHE_KEY}:lock", 1, timeout=600):
        return state
    try:
        damage = audit_verify()
        state = {"broken": len(damage.rows), "broken_chains": len(damage.chains), "at": time.time()}
        cache.set(AUDIT_CACHE_KEY, state, timeout=None)
    finally:
        cache.delete(f"{AUDIT_CACHE_KEY}:lock")
    return state


class AuditCollector:
    def collect(self):
        state = audit_chain_state()
        if state is None:
            return  # another process is verifying for the first time
        broken_chains = state.get("broken_chains", 0)  # absent from a state cached before chains were striped
        intact = GaugeMetricFamily(
            "naevus_audit_chain_intact", "1 when every audit row's hash and link and every chain's head matched."
        )
        intact.add_metric([], int(state["broken"] == 0 and broken_chains == 0))
        broken = GaugeMetricFamily("naevus_audit_chain_broken_rows", "Audit rows whose hash or link did not match.")
        broken.add_metric([], state["broken"])
        heads = GaugeMetricFamily(
            "naevus_audit_chain_broken_heads", "Audit chains whose head does not name their last row (rows cut off)."
        )
        heads.add_metric([], broken_chains)
        at = GaugeMetricFamily("naevus_audit_chain_verified_timestamp_seconds", "When the chain was last verified.")
        at.add_metric([], state["at"])
        yield from (intact, broken, heads, at)


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def metrics(request):
    token = settings.NAEVUS_METRICS_TOKEN
    if not token:
        return _refusal(404, "not_found", "Not found.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        response = _refusal(401, "not_authenticated", "A bearer token is required.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.encode(), token.encode()):
        return _refusal(403, "permission_denied", "Wrong token.")
    if request.method not in ("GET", "HEAD"):
        return _refusal(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
    # Imported here: classifier sits above portal; like the health check, this endpoint reports on it.
    from classifier.metrics import JobCollector

    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
    for collector in (BrokerCollector(), JobCollector(), AuditCollector()):
        registry.register(collector)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
