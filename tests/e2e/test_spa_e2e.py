"""The SPA in Debian's Chromium (playwright-core, frontend/e2e/run.mjs) against the real backend:
gunicorn serving the built SPA and the API on the test database, a real Celery worker on the local
Redis, and a registered model (a tiny random-init one: the flow is about the product, not the model)."""

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from classifier.tests.conftest import WorkerProcess
from classifier.tests.test_worker_integration import lesion_jpeg

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def backend(worker_env, tmp_path, tiny_model):
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        pytest.fail("the SPA is not built: run `make frontend` (make test-e2e does)")
    port = _free_port()
    env = {**worker_env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    log = open(tmp_path / "gunicorn.log", "wb")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--threads", "4"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/health/")
        yield f"http://127.0.0.1:{port}"
    finally:
        worker.stop()
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=20)


def test_a_clinician_signs_in_registers_a_patient_uploads_sees_the_result_runs_a_batch_and_signs_out(
    backend, alice, tmp_path
):
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is missing: `make chromium` installs it")
    image = tmp_path / "lesion.jpg"
    image.write_bytes(lesion_jpeg(7, size=(600, 450)))
    archive = tmp_path / "batch.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(6):
            zf.writestr(f"batch_{i}.jpg", lesion_jpeg(100 + i))
    archive.write_bytes(buf.getvalue())
    env = {
        **os.environ,
        "E2E_BASE_URL": backend,
        "E2E_USERNAME": "alice",
        "E2E_PASSWORD": "correct horse battery",
        "E2E_IMAGE": str(image),
        "E2E_ZIP": str(archive),
    }
    result = subprocess.run(
        ["node", "e2e/run.mjs"], cwd=ROOT / "frontend", env=env, capture_output=True, text=True, timeout=600
    )
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0, "the browser flow failed (see output and frontend/test-results/)"
    assert " 0 failed" in result.stdout
