"""A real Celery worker process on the real local Redis, against the test database."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class WorkerProcess:
    """`celery worker` in its own process group, so a test can SIGKILL it (children included)."""

    app = "portal"
    name_prefix = "test"

    def __init__(self, env: dict, log_path: Path, concurrency: int = 1):
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                self.app,
                "worker",
                "-Q",
                "inference,default",
                "-c",
                str(self.concurrency),
                "-P",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.name_prefix}-{uuid.uuid4().hex[:8]}@%h",
                "-l",
                "INFO",
            ],  # fmt: skip
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def broker_url():
    url = settings.CELERY_BROKER_URL
    assert url.startswith("redis://"), "integration tests need the local Redis (CELERY_BROKER_URL=redis://…)"
    redis_lib.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def worker_env(transactional_db, broker_url, settings, tmp_path):
    db = connection.settings_dict
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "NAEVUS_MODEL_STORE": str(settings.MODEL_STORE),
        "NAEVUS_VISIBILITY_TIMEOUT": "8",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        # Each process a test starts has its own cache (portal.settings.test: LocMem), so a worker's renewal of a
        # clinic's stamp would not reach the web processes: the worklist's counts are computed per request here,
        # as with a cache shared by web and workers (Redis in production, the database in `make run`) they are
        # once anything changes. Their cache is tested in one process (triage/tests/test_worklist_api.py).
        "NAEVUS_WORKLIST_COUNTS_TTL": "0",
    }


@pytest.fixture
def worker(worker_env, tmp_path):
    process = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    yield process
    process.stop()


@pytest.fixture
def tiny_model(transactional_db, tmp_path):
    """A random-init EfficientNet-layout model registered and active (tests never need a trained one)."""
    from classifier.inference.testing import make_tiny_artifact
    from classifier.services import model_version_register

    sha256, meta = make_tiny_artifact(tmp_path / "tiny.naevus.pt", img_size=64)
    return model_version_register(
        artifact_path=str(tmp_path / "tiny.naevus.pt"), sha256=sha256, meta=meta, activate=True
    )
