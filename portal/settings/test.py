from .base import *  # noqa: F403
from .base import env

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/naevus")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The real local Redis, on a database of its own; integration tests run a real worker against it.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": NAEVUS_VISIBILITY_TIMEOUT,  # noqa: F405
    "socket_timeout": 2,
    "socket_connect_timeout": 2,
    **NAEVUS_REDIS_RESTORE_OPTIONS,  # noqa: F405
    **NAEVUS_REDIS_LIVENESS_OPTIONS,  # noqa: F405
}
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "1000/min", "upload": "1000/min"}}  # noqa: F405
# One process: a per-process cache is shared by everything a test does, and the root conftest empties it
# before each test. Counters shared across processes are tested against gunicorn (tests/reliability).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
