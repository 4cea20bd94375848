"""Is a Celery worker still consuming? Its progress record, and the check that reads it.

A worker on Redis can reconnect after a broker outage and then take nothing more while its queue
grows (celery#8030, #8796, #10302; issue #12, item 7): the process lives and `inspect ping`
answers, so neither the container's state nor a ping shows it, and the sweeper's re-published
jobs only lengthen the queue. So every worker writes, next to its queues, when it last made
progress — it started, or a pool process started or finished a task — and the check calls a
worker stalled when one of its queues holds messages and it has made no progress for longer
than a task may run (`NAEVUS_WORKER_STALL_SECONDS`). A busy worker whose processes are all inside
long tasks still finishes one within the task time limit, so it is never called stalled.

The record is a Redis hash `naevus:worker:<node name>` (progress: Unix time, queues: comma list),
written through the app's own broker connection pool, so it needs a Redis broker; it is deleted
when the worker shuts down cleanly."""

import logging
import socket
import time
from dataclasses import dataclass

from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)

KEY_PREFIX = "naevus:worker:"


@dataclass(frozen=True)
class WorkerState:
    node: str
    queues: tuple[str, ...]
    waiting: int
    idle_seconds: float
    stalled: bool


def _app():
    from portal.celery import app

    return app


def worker_progress_record(*, node: str, queues: list[str], at: float | None = None) -> None:
    """Marks `node` as having made progress now. Never raises: bookkeeping must not fail a task,
    and while the broker is away there is nothing to consume anyway."""
    try:
        with _app().pool.acquire(block=True, timeout=2) as conn:
            if conn.transport.driver_type != "redis":
                return  # the embedded run's filesystem broker: no supervisor reads it
            conn.default_channel.client.hset(
                f"{KEY_PREFIX}{node}",
                mapping={"progress": at if at is not None else time.time(), "queues": ",".join(sorted(queues))},
            )
    except Exception as exc:  # noqa: BLE001 — any broker failure means the same thing here
        logger.warning("worker %s: progress not recorded (%s)", node, type(exc).__name__)


def worker_progress_forget(*, node: str) -> None:
    try:
        with _app().pool.acquire(block=True, timeout=2) as conn:
            if conn.transport.driver_type != "redis":
                return  # the embedded run's filesystem broker: nothing was recorded
            conn.default_channel.client.delete(f"{KEY_PREFIX}{node}")
    except Exception as exc:  # noqa: BLE001 — a record left behind is reported, never harmful
        logger.warning("worker %s: progress record not removed (%s)", node, type(exc).__name__)


def worker_states(*, stall_after: float, nodes: list[str] | None = None, host: str | None = None) -> list[WorkerState]:
    """The recorded workers named in `nodes`, or else every worker on `host` (default: this one),
    with their queues' waiting messages. Raises the broker's connection errors."""
    with _app().connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=5)
        channel = conn.default_channel
        client = channel.client
        if not nodes:
            pattern = f"{KEY_PREFIX}*@{host or socket.gethostname()}"
            nodes = sorted(key.decode()[len(KEY_PREFIX) :] for key in client.scan_iter(match=pattern))
        now = time.time()
        states = []
        for node in nodes:
            record = client.hgetall(f"{KEY_PREFIX}{node}")
            if not record:
                continue
            queues = tuple(q for q in record[b"queues"].decode().split(",") if q)
            waiting = sum(queue_waiting(channel, queue) for queue in queues)
            idle = now - float(record[b"progress"])
            states.append(WorkerState(node, queues, waiting, idle, stalled=waiting > 0 and idle > stall_after))
        return states


def queue_waiting(channel, queue: str) -> int:
    """Messages waiting in `queue` (for Redis: the length of its lists)."""
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # kombu's answer for a queue with nothing in it
        return 0
