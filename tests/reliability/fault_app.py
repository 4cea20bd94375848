"""The real portal Celery app for fault tests, with `Engine.analyse` wrapped so that a test can choose
which images kill their worker process and how long an analysis takes. Everything else — the prefork
pool, acks_late, reject_on_worker_lost, the advisory locks and the attempt cap in the database — is the
product's own machinery, so product code carries no test hooks.

    celery -A tests.reliability.fault_app worker ...

NAEVUS_TEST_POISON_SHA256: comma-separated sha256s of stored images whose analysis kills the process.
NAEVUS_TEST_ANALYSE_DELAY: seconds every `analyse` call sleeps first, so that a kill lands mid-inference.
NAEVUS_TEST_STALL_AFTER_RECONNECT: once the worker has reconnected to Redis, kombu never asks Redis for
    work again (the consumer registration lost on reconnect, as in kombu#2629): the worker lives, answers
    and consumes nothing — the stall of issue #12 item 7, on demand.
"""

import hashlib
import os
import time

from kombu.transport import redis as redis_transport

from classifier.inference.engine import Engine
from portal.celery import app

__all__ = ["app"]

_POISON = {h for h in os.environ.get("NAEVUS_TEST_POISON_SHA256", "").split(",") if h}
_DELAY = float(os.environ.get("NAEVUS_TEST_ANALYSE_DELAY", "0") or 0)
_analyse = Engine.analyse


def _faulty_analyse(self, sources, *args, **kwargs):
    if _DELAY:
        time.sleep(_DELAY)
    for source in sources:
        if isinstance(source, bytes | bytearray) and hashlib.sha256(source).hexdigest() in _POISON:
            # What a segfaulting decoder or an OOM kill looks like to Celery: the process is gone.
            os._exit(1)
    return _analyse(self, sources, *args, **kwargs)


Engine.analyse = _faulty_analyse


if os.environ.get("NAEVUS_TEST_STALL_AFTER_RECONNECT"):
    _register = redis_transport.Transport.register_with_event_loop
    _registrations = []

    def _register_then_stall(self, connection, loop):
        _registrations.append(connection)
        if len(_registrations) > 1:
            redis_transport.MultiChannelPoller._register_BRPOP = lambda poller, channel: None
        return _register(self, connection, loop)

    redis_transport.Transport.register_with_event_loop = _register_then_stall
