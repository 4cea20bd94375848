"""The embedded run (`make run`): SQLite, the filesystem broker, a demo model."""

from .base import *  # noqa: F403
from .base import CELERY_BROKER_DIR, CELERY_BROKER_URL, VAR_DIR

VAR_DIR.mkdir(exist_ok=True)
if CELERY_BROKER_URL.startswith("filesystem"):
    # kombu's filesystem transport expects its folders to exist.
    for sub in ("out", "processed", "control"):
        (CELERY_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
