"""Every setting comes from the environment through one `env` object; see .env.example."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The embedded run's state (SQLite, media, models, broker, demo credentials); a second run elsewhere,
# such as the `make run` smoke test, points it at its own folder and leaves a clone's var/ alone.
VAR_DIR = Path(env("NAEVUS_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-dev-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "corsheaders",
    "axes",
    "portal.core",
    "portal.accounts",
    "portal.records",
    "portal.audit",
    "classifier",
    "triage",
    "webhooks",
    "reports",
    "training",
]

MIDDLEWARE = [
    # First, so that every answer is counted, also those of the middleware below (portal/core/metrics.py).
    "portal.core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.core.middleware.RequestContextMiddleware",
    "portal.core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.accounts.middleware.IdleSessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a sign-in it refused into the lock-out answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'naevus.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded run has a web process and a worker writing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out sign-in before any password is checked, whichever
# form calls authenticate() (the API's login, the admin's, any future one).
# The OpenID Connect backend answers only its own callback, and only while OIDC is configured (below).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "portal.accounts.oidc.OidcBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
# The built SPA's files are served from the site root (index.html by the `spa` view for client routes).
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.exists() else None
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MODEL_STORE = Path(env("NAEVUS_MODEL_STORE", default=str(VAR_DIR / "models")))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if env("NAEVUS_S3_BUCKET", default=""):
    # Multi-machine deployments: workers elsewhere read the same images. Objects are private;
    # clinicians get them only through the API, which checks their clinic.
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("NAEVUS_S3_BUCKET"),
            "endpoint_url": env("NAEVUS_S3_ENDPOINT_URL", default=None),
            "access_key": env("NAEVUS_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("NAEVUS_S3_SECRET_ACCESS_KEY", default=None),
            "region_name": env("NAEVUS_S3_REGION", default=None),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    # Model versions, in the same bucket under models/: workers on any machine fetch them by sha256
    # (classifier/model_store.py). A key names one version's fixed content, so a rewrite is the same bytes.
    STORAGES["models"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**STORAGES["default"]["OPTIONS"], "location": "models", "file_overwrite": True},
    }
# Where a worker keeps the model files it fetched from the model storage (named by sha256).
NAEVUS_MODEL_CACHE = Path(env("NAEVUS_MODEL_CACHE", default=str(VAR_DIR / "model-cache")))

# Sessions: idle clinicians are signed out; a cookie replayed after logout is refused
# because the session row is deleted on logout (database sessions).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env.int("NAEVUS_SESSION_MAX_AGE_SECONDS", default=12 * 3600)
NAEVUS_IDLE_TIMEOUT_SECONDS = env.int("NAEVUS_IDLE_TIMEOUT_SECONDS", default=15 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

CORS_ALLOWED_ORIGINS = env.list("NAEVUS_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_URLS_REGEX = r"^/api/.*$"

# Uploads: limits clinicians meet with a clear message rather than a 500.
NAEVUS_MAX_UPLOAD_BYTES = env.int("NAEVUS_MAX_UPLOAD_BYTES", default=30 * 1024 * 1024)
# 50 MP: the largest dermoscopy sources in use (48 MP phone sensors behind a dermatoscope adapter,
# 8064×6048; 45–50 MP full-frame bodies) pass, anything larger is refused from its header.
NAEVUS_MAX_IMAGE_PIXELS = env.int("NAEVUS_MAX_IMAGE_PIXELS", default=50_000_000)
# A request's images summed from their headers before any is decoded: four images at the cap.
NAEVUS_MAX_REQUEST_PIXELS = env.int("NAEVUS_MAX_REQUEST_PIXELS", default=200_000_000)
# Full decodes at once per process (each holds up to 150 MB at the cap); others wait, then get a 503.
NAEVUS_MAX_CONCURRENT_DECODES = env.int("NAEVUS_MAX_CONCURRENT_DECODES", default=2)
NAEVUS_DECODE_WAIT_SECONDS = env.float("NAEVUS_DECODE_WAIT_SECONDS", default=60)
NAEVUS_MAX_FILES_PER_REQUEST = env.int("NAEVUS_MAX_FILES_PER_REQUEST", default=100)
NAEVUS_MAX_ZIP_BYTES = env.int("NAEVUS_MAX_ZIP_BYTES", default=2 * 1024**3)
NAEVUS_MAX_ZIP_ENTRIES = env.int("NAEVUS_MAX_ZIP_ENTRIES", default=5000)
NAEVUS_MAX_ZIP_RATIO = env.int("NAEVUS_MAX_ZIP_RATIO", default=50)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = NAEVUS_MAX_FILES_PER_REQUEST
NAEVUS_MAX_REQUEST_BYTES = env.int("NAEVUS_MAX_REQUEST_BYTES", default=NAEVUS_MAX_ZIP_BYTES)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.accounts.authentication.FirebaseAuthentication",
        "portal.accounts.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.accounts.permissions.IsClinicMember"],
    "DEFAULT_PAGINATION_CLASS": "portal.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "portal.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "portal.core.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("NAEVUS_THROTTLE_LOGIN", default="10/min"),
        "upload": env("NAEVUS_THROTTLE_UPLOAD", default="120/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many reverse proxies, each appending the address it saw to X-Forwarded-For, stand in front of
    # gunicorn (1 behind the compose file's Caddy). 0: the header is ignored, since any client can send it.
    "NUM_PROXIES": env.int("NAEVUS_NUM_PROXIES", default=0),
}

# Sign-in lock-out (django-axes): failures are counted per account and per client address, either one
# locks, in the shared cache (entries expire with the cool-off, so unknown usernames leave nothing behind).
# Every attempt made while locked restarts the cool-off, so Retry-After is exact.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
# An OpenID Connect callback names no account before the provider answers: it counts by address only.
AXES_LOCKOUT_PARAMETERS = "portal.accounts.lockout.lockout_parameters"
AXES_FAILURE_LIMIT = env.int("NAEVUS_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("NAEVUS_LOCKOUT_SECONDS", default=15 * 60))
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_USERNAME_FORM_FIELD = "username"
# The same client address as the throttles (NAEVUS_NUM_PROXIES), not axes' own proxy settings.
AXES_CLIENT_IP_CALLABLE = "portal.core.client.client_ip"
AXES_LOCKOUT_CALLABLE = "portal.accounts.lockout.lockout_response"
# The cache handler keeps no rows: axes' own admin pages would always be empty.
AXES_ENABLE_ADMIN = False

SPECTACULAR_SETTINGS = {
    "TITLE": "Naevus API",
    "DESCRIPTION": "Melanoma triage decision support. Not a diagnosis.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "PredictionStatusEnum": "classifier.models.Prediction.Status",
        "RiskCategoryEnum": "classifier.models.Prediction.Risk",
        "BatchStatusEnum": "classifier.models.BatchJob.Status",
        "HealthStatusEnum": ["ok", "error"],
        "QualityReasonEnum": "classifier.serializers.QUALITY_REASONS",
        "UploadImageTypeEnum": "portal.records.vocabulary.UploadImageType",
        "KindEnum": "portal.records.vocabulary.ImageKind",
        "ReadKindEnum": "triage.models.ReadKind",
        "ReviewStateEnum": "triage.reviews.STATES",
    },
}

# Throttle and lock-out counters live here, so every web process must see the same cache: Redis in
# production (CACHE_URL=redis://..., required there); the embedded run's default is a table in its
# database (`manage.py createcachetable`, which `make run` runs). Never a per-process cache.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://naevus_cache")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's own counts non-atomically (its `incr` is a get then a set): see portal/core/cache.py.
    CACHES["default"]["BACKEND"] = "portal.core.cache.DatabaseCache"

# Celery: the database is the source of truth, the broker only transport.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = Path(env("NAEVUS_BROKER_DIR", default=str(VAR_DIR / "broker")))
NAEVUS_VISIBILITY_TIMEOUT = env.int("NAEVUS_VISIBILITY_TIMEOUT", default=3600)
# kombu looks for unacknowledged messages past the visibility timeout only every interval × throttle
# seconds (100 s by default), so a job whose worker was killed would wait that long on top of the
# timeout: scan on every tick, a few times per timeout (tests/reliability/test_faults.py, item 2).
NAEVUS_REDIS_RESTORE_OPTIONS = {
    "unacked_restore_interval": max(1, min(10, NAEVUS_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
}
# A consumer connection that died without closing (a restarted host, a dropped NAT entry) never
# becomes readable, so the worker would wait on it for ever: TCP keepalive, and kombu's PING and
# BRPOP-reply checks every health_check_interval (25 s by default) drop it and reconnect. A worker
# that reconnects and still takes nothing is caught by `manage.py worker_liveness` (issue #12, item 7).
NAEVUS_REDIS_LIVENESS_OPTIONS = {"socket_keepalive": True, "health_check_interval": 10}
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {
        "visibility_timeout": NAEVUS_VISIBILITY_TIMEOUT,
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        **NAEVUS_REDIS_RESTORE_OPTIONS,
        **NAEVUS_REDIS_LIVENESS_OPTIONS,
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A task running when the broker connection drops finishes and stores its result (the database is
# the source of truth); its acknowledgement is lost and the redelivery finds the job done. Cancelling
# it instead (Celery 6's default) would throw away finished inference on every broker blip.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"classifier.tasks.predict": {"queue": "inference"}}
NAEVUS_TASK_SOFT_TIME_LIMIT = env.int("NAEVUS_TASK_SOFT_TIME_LIMIT", default=120)
NAEVUS_TASK_TIME_LIMIT = env.int("NAEVUS_TASK_TIME_LIMIT", default=180)
NAEVUS_MAX_ATTEMPTS = env.int("NAEVUS_MAX_ATTEMPTS", default=3)
# `manage.py worker_liveness` calls a worker stalled when its queue has work and it has started or
# finished no task for this long; longer than a task may run, so a busy worker never qualifies.
NAEVUS_WORKER_STALL_SECONDS = env.int("NAEVUS_WORKER_STALL_SECONDS", default=NAEVUS_TASK_TIME_LIMIT + 60)
NAEVUS_SWEEP_INTERVAL_SECONDS = env.float("NAEVUS_SWEEP_INTERVAL_SECONDS", default=60)
NAEVUS_SWEEP_STALE_SECONDS = env.float("NAEVUS_SWEEP_STALE_SECONDS", default=300)
# Workers run at this nice value (0: as started), so a web request sharing their cores runs first
# (portal/core/cpu_priority.py; containers use cpu_shares instead, docker-compose.yml).
NAEVUS_WORKER_NICE = env.int("NAEVUS_WORKER_NICE", default=10)
# Jobs per task: two model batches of 8, so the worker decodes the second while the model runs the first
# (classifier/inference/engine.py::Engine.analyse; 2,000-image batch 34 → 40 img/s, bench/pipeline.py).
NAEVUS_INFERENCE_CHUNK = env.int("NAEVUS_INFERENCE_CHUNK", default=16)
# The worklist's counts (the navigation's badges and each page's total) are cached per clinic for at most this
# many seconds; every change the product makes to what they count replaces the clinic's stamp at once
# (portal/core/clinic_changes.py), so the TTL only bounds a change made around the product (raw SQL). The SPA
# refreshes the counts every 30 s anyway. 0 turns the cache off.
NAEVUS_WORKLIST_COUNTS_TTL = env.int("NAEVUS_WORKLIST_COUNTS_TTL", default=10)
NAEVUS_OPERATING_POINT_BOOTSTRAP = env.int("NAEVUS_OPERATING_POINT_BOOTSTRAP", default=1000)
# GET /metrics (Prometheus) answers only `Authorization: Bearer <this>`; empty: the endpoint does not exist.
NAEVUS_METRICS_TOKEN = env("NAEVUS_METRICS_TOKEN", default="")
# The audit chain is verified row by row: at most once per this many seconds, shared by every process.
NAEVUS_METRICS_AUDIT_VERIFY_SECONDS = env.int("NAEVUS_METRICS_AUDIT_VERIFY_SECONDS", default=900)
# Audit rows are appended to this many hash chains, each locked only while one request appends to it:
# more chains than concurrent writers (web threads + workers) and audited requests never wait on each other.
NAEVUS_AUDIT_CHAINS = env.int("NAEVUS_AUDIT_CHAINS", default=16)
CELERY_BEAT_SCHEDULE = {
    "sweep-lost-predictions": {
        "task": "classifier.tasks.sweep",
        "schedule": timedelta(seconds=NAEVUS_SWEEP_INTERVAL_SECONDS),
    },
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep",
        "schedule": timedelta(seconds=NAEVUS_SWEEP_INTERVAL_SECONDS),
    },
}
# Webhooks (webhooks/, docs/webhooks.md): attempts per delivery, the backoff between them (30 s, 60 s,
# 120 s … capped), and where a clinic admin may point them. By default only https to public addresses:
# a receiver inside the hospital's network needs NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS.
NAEVUS_WEBHOOK_MAX_ATTEMPTS = env.int("NAEVUS_WEBHOOK_MAX_ATTEMPTS", default=8)
NAEVUS_WEBHOOK_BACKOFF_SECONDS = env.float("NAEVUS_WEBHOOK_BACKOFF_SECONDS", default=30)
NAEVUS_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("NAEVUS_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600)
NAEVUS_WEBHOOK_CONNECT_TIMEOUT = env.float("NAEVUS_WEBHOOK_CONNECT_TIMEOUT", default=5)
NAEVUS_WEBHOOK_READ_TIMEOUT = env.float("NAEVUS_WEBHOOK_READ_TIMEOUT", default=10)
NAEVUS_WEBHOOK_SWEEP_GRACE_SECONDS = env.float("NAEVUS_WEBHOOK_SWEEP_GRACE_SECONDS", default=60)
NAEVUS_WEBHOOK_ALLOW_HTTP = env.bool("NAEVUS_WEBHOOK_ALLOW_HTTP", default=False)
NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)

# Firebase: the emulator is honoured only with DEBUG on (see portal.settings.checks).
FIREBASE_PROJECT_ID = env("FIREBASE_PROJECT_ID", default="")
FIREBASE_AUTH_EMULATOR_HOST = env("FIREBASE_AUTH_EMULATOR_HOST", default="")
if FIREBASE_AUTH_EMULATOR_HOST and not DEBUG:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("FIREBASE_AUTH_EMULATOR_HOST is set while DEBUG is off; refusing to start.")
FIREBASE_CREDENTIALS_FILE = env("FIREBASE_CREDENTIALS_FILE", default="")
# The SPA's Firebase web config (public values), injected into index.html at run time.
FIREBASE_WEB_API_KEY = env("FIREBASE_WEB_API_KEY", default="")
FIREBASE_AUTH_DOMAIN = env("FIREBASE_AUTH_DOMAIN", default="")

# OpenID Connect sign-in (mozilla-django-oidc: authorization code + PKCE), off unless the client id, the
# issuer and the endpoints are all set; a half-set configuration refuses to start. Values come from the
# provider's /.well-known/openid-configuration (docs/deploy.md "OpenID Connect").
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT", default="")
# Optional: claims the ID token lacks (e-mail) are read here; its `sub` must match the ID token's.
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT", default="")
# Optional: the provider's end_session_endpoint. Set: sign-out also ends the provider's session
# (RP-initiated logout); unset: sign-out is local.
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", default="openid email profile")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
# For the id_token_hint of RP-initiated logout; the session row is server-side and deleted on sign-out.
OIDC_STORE_ID_TOKEN = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", default=10)
OIDC_CLOCK_SKEW_SECONDS = env.int("OIDC_CLOCK_SKEW_SECONDS", default=60)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc-callback"
# Optional role mapping: a claim (a string or a list of strings) and which of its values mean which role,
# e.g. OIDC_ROLE_CLAIM=groups, OIDC_ROLE_MAP=naevus-admins=clinic_admin,naevus-clinicians=clinician. Set:
# the member's role follows the claim at every sign-in (no mapped value: clinician). It never grants a clinic.
OIDC_ROLE_CLAIM = env("OIDC_ROLE_CLAIM", default="")
OIDC_ROLE_MAP = env.dict("OIDC_ROLE_MAP", default={})
_OIDC_REQUIRED = {
    "OIDC_RP_CLIENT_ID": OIDC_RP_CLIENT_ID,
    "OIDC_OP_ISSUER": OIDC_OP_ISSUER,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": OIDC_OP_AUTHORIZATION_ENDPOINT,
    "OIDC_OP_TOKEN_ENDPOINT": OIDC_OP_TOKEN_ENDPOINT,
    "OIDC_OP_JWKS_ENDPOINT": OIDC_OP_JWKS_ENDPOINT,
}
if any(_OIDC_REQUIRED.values()) and not all(_OIDC_REQUIRED.values()):
    from django.core.exceptions import ImproperlyConfigured

    missing = ", ".join(name for name, value in _OIDC_REQUIRED.items() if not value)
    raise ImproperlyConfigured(f"OpenID Connect is half configured: {missing} unset.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "portal.core.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": env("NAEVUS_LOG_FORMAT", default="plain")}},
    "root": {"handlers": ["console"], "level": env("NAEVUS_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
        # WeasyPrint logs each rendering step at INFO, and fontTools each subsetting step.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
