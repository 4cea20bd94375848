"""A per-clinic change stamp in the shared cache, for figures that are costly to compute and cached per clinic
(the worklist's counts, triage/selectors.py).

Whatever changes what such a figure counts calls `clinic_changed(clinic_id)`; the figure is cached under the
clinic's current stamp, so a change makes every earlier entry unreachable. A stamp is a fresh random token, never
a counter: a stamp evicted from the cache cannot come back with a value an old entry was stored under.

The stamp is replaced twice: at once, so the writer's own transaction (and a test's, which never commits) reads
past the old entries, and again when the transaction commits, because a reader that took the new stamp before
the commit may have stored figures computed from the data as it was before."""

import logging
import uuid

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

_KEY = "clinic-changes:{}"


def _renew(clinic_id: int) -> None:
    # A cache that is down must not fail the write that changed the data (a worker storing results, a review
    # being signed): the cached figures then stay stale for their TTL at most, and the write goes through.
    try:
        cache.set(_KEY.format(clinic_id), uuid.uuid4().hex, timeout=None)
    except Exception:  # noqa: BLE001 — any cache backend's error
        logger.warning("the change stamp of clinic %s could not be renewed", clinic_id, exc_info=True)


def clinic_changed(*clinic_ids: int | None) -> None:
    for clinic_id in {c for c in clinic_ids if c is not None}:
        _renew(clinic_id)
        transaction.on_commit(lambda clinic_id=clinic_id: _renew(clinic_id))


def clinic_stamp(clinic_id: int) -> str:
    """The clinic's current stamp (a new one when it has none yet, or it was evicted). Raises what the cache
    raises when it is down: the caller then computes its figure without the cache."""
    key = _KEY.format(clinic_id)
    stamp = cache.get(key)
    if stamp is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        stamp = cache.get(key)
    return stamp
