"""Production: no default secrets, HTTPS behind a proxy, JSON logs. `check --deploy` is clean with the
environment of deploy/ci.env (see tests/deploy/test_production_settings.py)."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import LOGGING, STORAGES, env

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if env("FIREBASE_AUTH_EMULATOR_HOST", default=""):
    raise ImproperlyConfigured(
        "FIREBASE_AUTH_EMULATOR_HOST is set: the auth emulator must never be used in production."
    )
if env("FIREBASE_PROJECT_ID", default="") and not (
    env("FIREBASE_CREDENTIALS_FILE", default="") or env("GOOGLE_APPLICATION_CREDENTIALS", default="")
):
    # Without a credential firebase-admin cannot verify tokens outside the emulator: every bearer
    # request would fail after seconds of probing for default credentials.
    raise ImproperlyConfigured(
        "FIREBASE_PROJECT_ID is set but FIREBASE_CREDENTIALS_FILE (a service-account JSON) is not."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No silent fallbacks to the embedded run's filesystem broker or a per-process cache: several web
# processes must share throttle and lockout counters, and workers may live on other machines.
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
if not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("CELERY_BROKER_URL must be a redis:// URL in production.")
CACHES = {"default": env.cache("CACHE_URL")}
if not env("CACHE_URL").startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured("CACHE_URL must be a redis:// URL in production: web processes share its counters.")

# TLS ends at the reverse proxy, which must set X-Forwarded-Proto (and strip a client's own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Container health checks and Prometheus call gunicorn directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Hashed file names, so static files can be cached forever; collected once, when the image is built.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

LOGGING["handlers"]["console"]["formatter"] = "json"
# Workers log through Django's LOGGING (JSON, ids only) instead of Celery's own plain-text handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
