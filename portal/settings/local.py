"""The embedded run (`make run`): SQLite, the filesystem broker, a demo model."""

from .base import *  # noqa: F403
