"""Fault-injection fixtures: a redis-server of the test's own (so it can be stopped, flushed and
restarted), the portal's Celery app pointed at it, and real worker processes running
`tests.reliability.fault_app`. Re-uses the classifier's `WorkerProcess`, `worker_env`, `tiny_model`."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_lib

from classifier.tests import conftest as classifier_fixtures
from classifier.tests.conftest import WorkerProcess, wait_for

tiny_model = classifier_fixtures.tiny_model
worker_env = classifier_fixtures.worker_env

ROOT = Path(__file__).resolve().parents[2]
# Short enough that recovery by redelivery fits a test, long enough that a live 64 px chunk never
# outlasts it (a chunk takes well under a second).
VISIBILITY_TIMEOUT = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on a spare loopback port. Nothing is persisted unless a test asks
    (`stop(save=True)` writes a dump into the test's own folder, which the next `start` loads)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "yes",
            ],  # fmt: skip
            stdout=open(self.workdir / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._pings, timeout=10, message=f"redis-server on port {self.port}")
        return self

    def _pings(self) -> bool:
        try:
            return self.client().ping()
        except redis_lib.RedisError:
            return False

    def stop(self, *, save: bool = False):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.client().shutdown(save=save, nosave=not save)
        except redis_lib.ConnectionError:
            pass  # the server closes the connection as it goes: that is the answer
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def queued(self, queue: str = "inference") -> int:
        """Messages waiting in the queue plus those delivered but not yet acknowledged."""
        client = self.client()
        return client.llen(queue) + client.hlen("unacked")


def point_app_at(url: str) -> None:
    """Re-points the in-process Celery app (the publishing side: uploads, the sweeper) at another
    broker. Celery caches a connection pool and a producer pool built from the old URL; dropping
    both (as `Celery._after_fork` does, without its signal) makes the next publish build them anew.
    The caller must also clear CELERY_BROKER_URL from the environment: Celery prefers it to
    `conf.broker_url`, and `make test` sets it."""
    from portal.celery import app

    if app._pool is not None:
        app._pool.force_close_all()
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def broker_url(redis_server, monkeypatch):
    """Overrides the classifier's fixture (which flushes the shared Redis): workers started from
    `worker_env` and this process's publishes both go to the test's own redis-server."""
    from django.conf import settings

    for variable in ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
        monkeypatch.delenv(variable, raising=False)
    point_app_at(redis_server.url)
    yield redis_server.url
    point_app_at(settings.CELERY_BROKER_URL)


@pytest.fixture
def fault_env(worker_env):
    return {
        **worker_env,
        "NAEVUS_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "NAEVUS_MAX_ATTEMPTS": "3",
        "NAEVUS_TEST_ANALYSE_DELAY": "0",
    }


class FaultWorker(WorkerProcess):
    """`celery -A tests.reliability.fault_app worker`: the product's worker with the fault hooks."""

    app = "tests.reliability.fault_app"
    name_prefix = "fault"

    def __init__(self, env: dict, log_path: Path, concurrency: int = 1):
        super().__init__(env, log_path, concurrency)
        self.started_at = 0.0

    def start(self):
        self.started_at = time.monotonic()
        return super().start()

    # A worker's start (imports, model load, Redis connection) took over 90 s once at load average ~12 on
    # 2 cores (1 of 20 runs of the Redis-restart test, before any fault was injected): the start is not
    # what these tests measure, so it gets room; a worker that never starts still fails.
    def wait_ready(self, timeout: float = 240) -> float:
        wait_for(lambda: " ready." in self.log(), timeout=timeout, interval=0.2, message="the worker to start")
        return time.monotonic() - self.started_at

    def sigterm_and_wait(self, timeout: float) -> float:
        """Sends SIGTERM to the main process only (what `docker stop` does) and times the exit."""
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - began

    def deaths(self) -> int:
        """Pool children that died under the worker (SIGKILL, os._exit)."""
        return self.log().count("exited with 'exitcode") + self.log().count("exited with 'signal")


@pytest.fixture
def fault_workers(fault_env, tmp_path):
    """Starts FaultWorkers on demand and makes sure every one is gone at the end."""
    started: list[FaultWorker] = []

    def start(*, concurrency: int = 1, **env) -> FaultWorker:
        worker = FaultWorker(
            {**fault_env, **{k: str(v) for k, v in env.items()}},
            tmp_path / f"worker-{len(started)}.log",
            concurrency=concurrency,
        )
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop()
        # Shown by pytest only when the test failed.
        print(f"--- {worker.log_path.name} (tail) ---\n{worker.log()[-4000:]}")
        if worker.proc.poll() is None:
            os.killpg(worker.proc.pid, signal.SIGKILL)


def pytest_terminal_summary(terminalreporter):
    from .figures import FIGURES

    if FIGURES:
        terminalreporter.section("reliability figures")
        for item, what, figure in sorted(FIGURES, key=lambda f: (len(f[0]), f[0])):
            terminalreporter.write_line(f"item {item:>3}  {what}: {figure}")
