"""A real HTTP receiver on 127.0.0.1 (the clinic's IT, as the webhooks see it), and the classifier's real
Celery worker fixtures, with the webhook settings a local receiver needs."""

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from classifier.tests.conftest import broker_url, tiny_model, worker, worker_env  # noqa: F401  (fixtures)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next status of `script` (then 200), records what came."""

    port: int
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    hold: threading.Event | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/naevus-hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers), body))
                if receiver.hold is not None:
                    receiver.hold.wait(timeout=30)
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.answered.append(status)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receiver():
    """Not listening until the test calls start(): its downtime is where it begins."""
    r = Receiver(port=free_port())
    yield r
    r.stop()


WEBHOOK_SETTINGS = {
    "NAEVUS_WEBHOOK_ALLOW_HTTP": True,
    "NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS": True,
    "NAEVUS_WEBHOOK_BACKOFF_SECONDS": 0.5,
    "NAEVUS_WEBHOOK_BACKOFF_MAX_SECONDS": 2.0,
    "NAEVUS_WEBHOOK_MAX_ATTEMPTS": 4,
    "NAEVUS_WEBHOOK_CONNECT_TIMEOUT": 2,
    "NAEVUS_WEBHOOK_READ_TIMEOUT": 5,
}


@pytest.fixture(autouse=True)
def webhook_settings(settings, monkeypatch):
    """For this process and, through the environment `worker_env` copies, for the worker's."""
    for name, value in WEBHOOK_SETTINGS.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, str(value))
    return settings
