"""Request rates counted atomically in the shared cache, so a limit holds across web processes even
when the requests arrive at the same instant.

DRF's SimpleRateThrottle reads a client's request history from the cache, appends, and writes it
back: requests handled at once by different gunicorn workers all read the same history, and 24
simultaneous sign-ins passed 13–15 times against 10/min (issue #12). Here a client's window is one
counter: the first request of a window creates it (`cache.add`, which also records when the window
began, for Retry-After) and every request increments it (`cache.incr`) and passes only while the new
count is within the rate. Redis does both atomically (SET NX, INCRBY); the embedded run's database
cache is made to (portal/core/cache.py). The window opens at a client's first request and closes
`duration` seconds later, so a rate of 10/min lets at most 10 through in any window, and at most 20
in the two seconds around the end of one (DRF's sliding history allowed 10)."""

from django.core.cache import cache as default_cache
from rest_framework.throttling import ScopedRateThrottle


class AtomicScopedRateThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle (same `throttle_scope` rates, same client identity, same cache key),
    counted with an atomic fixed window instead of a read-modify-write history."""

    cache = default_cache
    # Keys of their own: DRF's history lists under the old keys expire by themselves.
    cache_format = "throttle_window_%(scope)s_%(ident)s"

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        return self._count() <= self.num_requests

    def _count(self) -> int:
        # The window can expire between `add` and `incr` (or be culled): then open a new one.
        for _ in range(3):
            if self.cache.add(self.key, 0, self.duration):
                self.cache.set(f"{self.key}_opened", self.now, self.duration)
            try:
                return self.cache.incr(self.key)
            except ValueError:
                continue
        raise RuntimeError(f"throttle window for scope {self.scope} could not be counted")

    def wait(self):
        opened = self.cache.get(f"{self.key}_opened")
        if opened is None:
            return self.duration
        return max(opened + self.duration - self.timer(), 1)
