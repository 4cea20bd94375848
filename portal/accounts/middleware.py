import time

from django.conf import settings
from django.contrib.auth import logout

_KEY = "naevus_last_seen"
# Refresh the timestamp at most this often so that polling clients don't rewrite the session on every request.
_REFRESH_SECONDS = 15


class IdleSessionTimeoutMiddleware:
    """Ends a session (and deletes its row) after NAEVUS_IDLE_TIMEOUT_SECONDS without a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.session_key and request.user.is_authenticated:
            now = time.time()
            last = session.get(_KEY, now)
            if now - last > settings.NAEVUS_IDLE_TIMEOUT_SECONDS:
                logout(request)
            elif now - session.get(_KEY, 0) > _REFRESH_SECONDS:
                session[_KEY] = now
        return self.get_response(request)
