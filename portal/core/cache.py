"""The embedded run's shared cache: Django's database cache with an atomic `add` and `incr`.

Web processes count sign-ins and uploads in the cache (portal/core/throttling.py), so two of them
must never both see the same count. Redis makes `add` (SET NX) and `incr` (INCRBY) atomic. Django's
DatabaseCache does not: its `incr` is a `get` then a `set`, so concurrent requests in different
processes read the same value and each writes value + 1; and its `add` over an expired row is a
SELECT then an UPDATE, which two processes can both do. Here each is one transaction whose first
statement is a write: PostgreSQL then holds the row's lock until the commit (SQLite, which the
embedded run uses, takes its write lock at BEGIN already: `transaction_mode` IMMEDIATE in
portal/settings/base.py), so the read that follows sees what the previous writer committed."""

import base64
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import IntegrityError, connections, router, transaction
from django.utils.timezone import now as tz_now


# The SQL below interpolates only quoted identifiers (the table and column names, as Django's own
# DatabaseCache does); every value is a query parameter (hence the S608 exemptions). Values are
# pickled by this cache itself, never taken from a client (S301).
class DatabaseCache(DjangoDatabaseCache):
    def _encode(self, value) -> str:
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    def _expiry(self, timeout) -> datetime:
        timeout = self.get_backend_timeout(timeout)
        if timeout is None:
            return datetime.max.replace(microsecond=0)
        return datetime.fromtimestamp(timeout, tz=UTC if settings.USE_TZ else None).replace(microsecond=0)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        q = connection.ops.quote_name
        table = q(self._table)
        now = connection.ops.adapt_datetimefield_value(tz_now().replace(microsecond=0))
        expires = connection.ops.adapt_datetimefield_value(self._expiry(timeout))
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
            num = cursor.fetchone()[0]
            if num > self._max_entries:
                self._cull(db, cursor, tz_now(), num)
            # An expired entry counts as absent. Deleting it is the transaction's first write, so a
            # concurrent `add` of the same key waits here and then finds the new row.
            delete = f"DELETE FROM {table} WHERE {q('cache_key')} = %s AND {q('expires')} < %s"  # noqa: S608
            cursor.execute(delete, [key, now])
            try:
                with transaction.atomic(using=db):
                    cursor.execute(
                        f"INSERT INTO {table} ({q('cache_key')}, {q('value')}, {q('expires')}) VALUES (%s, %s, %s)",  # noqa: S608
                        [key, self._encode(value), expires],
                    )
            except IntegrityError:
                return False
        return True

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        q = connection.ops.quote_name
        table = q(self._table)
        now = connection.ops.adapt_datetimefield_value(tz_now())
        where = f"{q('cache_key')} = %s AND {q('expires')} >= %s"
        with transaction.atomic(using=db), connection.cursor() as cursor:
            # A write that changes nothing, to take the row's lock before reading: the next `incr` of
            # this key waits here until this one commits.
            cursor.execute(f"UPDATE {table} SET {q('value')} = {q('value')} WHERE {where}", [key, now])  # noqa: S608
            if cursor.rowcount == 0:
                raise ValueError(f"Key '{key}' not found")
            cursor.execute(f"SELECT {q('value')} FROM {table} WHERE {q('cache_key')} = %s", [key])  # noqa: S608
            stored = connection.ops.process_clob(cursor.fetchone()[0])
            value = pickle.loads(base64.b64decode(stored.encode())) + delta  # noqa: S301
            update = f"UPDATE {table} SET {q('value')} = %s WHERE {q('cache_key')} = %s"  # noqa: S608
            cursor.execute(update, [self._encode(value), key])
        return value
