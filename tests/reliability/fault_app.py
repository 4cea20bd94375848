"""The real portal Celery app for fault tests, with `Engine.analyse` wrapped so that a test can choose
which images kill their worker process and how long an analysis takes. Everything else — the prefork
pool, acks_late, reject_on_worker_lost, the advisory locks and the attempt cap in the database — is the
product's own machinery, so product code carries no test hooks.

    celery -A tests.reliability.fault_app worker ...

NAEVUS_TEST_POISON_SHA256: comma-separated sha256s of stored images whose analysis kills the process.
NAEVUS_TEST_ANALYSE_DELAY: seconds every `analyse` call sleeps first, so that a kill lands mid-inference.
"""

import hashlib
import os
import time

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
