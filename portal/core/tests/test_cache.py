"""The database cache's `add` and `incr` are atomic across connections (portal/core/cache.py): the
throttles count in it when the embedded run has no Redis. Real PostgreSQL, one connection per thread,
as web processes would have."""

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections

from portal.core.cache import DatabaseCache

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
EACH = 25


@pytest.fixture
def db_cache():
    call_command("createcachetable", "naevus_test_cache", verbosity=0)
    yield DatabaseCache("naevus_test_cache", {})
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE naevus_test_cache")


def _at_once(work) -> list:
    barrier = threading.Barrier(THREADS)
    results = [None] * THREADS

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_concurrent_increments_from_several_connections_lose_none(db_cache):
    db_cache.add("count", 0, 60)

    def increments():
        return [db_cache.incr("count") for _ in range(EACH)]

    seen = [n for per_thread in _at_once(increments) for n in per_thread]
    assert db_cache.get("count") == THREADS * EACH
    assert sorted(seen) == list(range(1, THREADS * EACH + 1))


def test_exactly_one_of_several_concurrent_adds_wins_also_over_an_expired_entry(db_cache):
    db_cache.add("window", "old", 60)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE naevus_test_cache SET expires = expires - %s", [timedelta(hours=1)])
    assert _at_once(lambda: db_cache.add("window", "new", 60)).count(True) == 1
    assert db_cache.get("window") == "new"


def test_incr_of_a_missing_or_expired_key_raises_value_error(db_cache):
    with pytest.raises(ValueError):
        db_cache.incr("missing")
    db_cache.add("gone", 1, 60)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE naevus_test_cache SET expires = expires - %s", [timedelta(hours=1)])
    with pytest.raises(ValueError):
        db_cache.incr("gone")
