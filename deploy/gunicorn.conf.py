"""gunicorn for the `web` container (deploy/entrypoint.sh). Sized from the environment (.env.example)."""

import ctypes
import ctypes.util
import os

# All interfaces inside the container: only the proxy, on the compose network, can reach it.


def _setting(name: str, default: str) -> str:
    # .env.example leaves some of these empty; empty means the default, as in the Procfile.
    return os.environ.get(name) or default


# A full decode of a 49 MP upload is 147 MB, allocated by Pillow in 16 MB blocks. glibc raises its mmap threshold
# each time such a block is freed, so later blocks come from per-thread heaps that keep the memory, and a worker's
# peak then depended on which threads had decoded (617–804 MB in tests/reliability/test_decode_memory.py runs).
# A fixed threshold (which also turns the dynamic one off) keeps every block mmapped and returned when freed.
# Set here, in the master before it forks: the workers inherit it. Not glibc (e.g. musl): nothing to set.
_M_MMAP_THRESHOLD = -3
_libc = ctypes.util.find_library("c")
if _libc and hasattr(ctypes.CDLL(_libc), "mallopt"):
    ctypes.CDLL(_libc).mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)

bind = f"{_setting('NAEVUS_HOST', '0.0.0.0')}:{_setting('NAEVUS_PORT', '8000')}"  # noqa: S104
workers = int(_setting("NAEVUS_WEB_WORKERS", "3"))
threads = int(_setting("NAEVUS_WEB_THREADS", "4"))
# Uploads of large zips stream through a worker thread; keep this above the slowest expected upload.
timeout = int(_setting("NAEVUS_WEB_TIMEOUT", "120"))
graceful_timeout = 30
# The heartbeat file on tmpfs: an overlay /tmp can stall long enough for gunicorn to kill workers.
worker_tmp_dir = "/dev/shm"  # noqa: S108 — gunicorn creates its own unlinked files there

# gunicorn's own lines in the application's JSON format, so the container writes one JSON object per
# line. The access line has the path only (%(U)s), never the query string, which can carry a search.
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(B)s %(M)sms"
_json = {"class": "logging.StreamHandler", "formatter": "json"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.core.logging.JsonFormatter"}},
    "handlers": {
        "console": {**_json, "stream": "ext://sys.stdout"},
        "error_console": {**_json, "stream": "ext://sys.stderr"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


def child_exit(server, worker):
    """prometheus_client's multiprocess mode: a dead worker's live gauges stop counting (its counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
