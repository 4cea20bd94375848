"""GET /metrics scraped from gunicorn (two worker processes, prometheus_client's multiprocess mode, as
deploy/entrypoint.sh runs it) while a real Celery worker on the local Redis analyses a real batch."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client.parser import text_string_to_metric_families

from classifier.tests.conftest import WorkerProcess, wait_for
from classifier.tests.test_worker_integration import lesion_jpeg, make_zip

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "integration-scrape-token"
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def portal(worker_env, tmp_path):
    """gunicorn with two workers and a shared multiprocess directory; yields a scrape function."""
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = _free_port()
    env = {**worker_env, "NAEVUS_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    with open(tmp_path / "gunicorn.log", "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "2", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
            cwd=ROOT, env={**env, "NAEVUS_HOST": "127.0.0.1", "NAEVUS_PORT": str(port)}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(f"{base}/api/v1/health/"), timeout=180, interval=0.5, message="gunicorn")
        yield base
    except BaseException:
        print((tmp_path / "gunicorn.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait()


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def scrape(base: str) -> dict:
    """{(name, frozenset(labels)): value} of one scrape, on a fresh connection (any gunicorn worker may answer)."""
    response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_the_numbers_move_while_a_real_worker_analyses_a_batch(
    portal, as_user, alice, tiny_model, worker_env, tmp_path
):
    # Requests: every one is counted once, whichever of the two gunicorn workers served it and answers the scrape.
    def health_count() -> float:
        return value(scrape(portal), "naevus_http_request_duration_seconds_count", method="GET", view="health",
                     status="200") or 0  # fmt: skip

    # The start-up polls that timed out on the client still ran on the server: wait for the count to settle.
    settled = []
    wait_for(lambda: (settled.append(health_count()), len(settled) > 2 and settled[-1] == settled[-3])[1],
             timeout=60, interval=1, message="the start-up requests to be counted")  # fmt: skip
    for _ in range(12):
        assert requests.get(f"{portal}/api/v1/health/", headers={"Connection": "close"}).status_code == 200
    assert [health_count() for _ in range(6)] == [settled[-1] + 12] * 6

    before = scrape(portal)
    assert value(before, "naevus_workers") == 0 and value(before, "naevus_broker_up") == 1
    assert value(before, "naevus_predictions", status="done") == 0
    assert value(before, "naevus_batch_rejected_files") == 0
    assert value(before, "naevus_audit_chain_intact") == 1

    # The batch is queued with no worker running: the queue holds it.
    n = 10
    api = as_user(alice)
    archive = make_zip(n, extra={"broken.jpg": lesion_jpeg(999)[:500]})
    created = api.post(
        "/api/v1/batches/",
        {"archive": SimpleUploadedFile("batch.zip", archive, "application/zip"), "name": "metrics"},
        format="multipart",
    )
    assert created.status_code == 202, created.json()
    queued = scrape(portal)
    assert value(queued, "naevus_queue_messages", queue="inference") > 0
    assert value(queued, "naevus_predictions", status="queued") == n
    assert value(queued, "naevus_batches", status="running") == 1
    assert value(queued, "naevus_batch_rejected_files") == 1  # the corrupt file failed on its own

    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        seen_done = set()

        def finished():
            samples = scrape(portal)
            seen_done.add(value(samples, "naevus_predictions", status="done"))
            return value(samples, "naevus_batches", status="done") == 1 and samples

        done = wait_for(finished, timeout=240, interval=0.5, message="the batch, seen through /metrics")
    finally:
        worker.stop()

    assert value(done, "naevus_predictions", status="done") == n
    assert value(done, "naevus_predictions", status="queued") == 0
    assert value(done, "naevus_queue_messages", queue="inference") == 0
    assert value(done, "naevus_predictions", status="failed") == 0
    # Upload to result: one observation per done prediction, within the batch's lifetime.
    assert value(done, "naevus_prediction_upload_to_result_seconds_count") == n
    assert 0 < value(done, "naevus_prediction_upload_to_result_seconds_sum") < 240 * n
    assert value(done, "naevus_prediction_upload_to_result_seconds_bucket", le="+Inf") == n
    # The worker's progress record, the one `manage.py worker_liveness` reads, was recent and not stalled.
    (node,) = [dict(labels)["worker"] for name, labels in done if name == "naevus_worker_stalled"]
    assert value(done, "naevus_workers") == 1
    assert value(done, "naevus_worker_stalled", worker=node) == 0
    assert time.time() - value(done, "naevus_worker_last_progress_timestamp_seconds", worker=node) < 60

    # A clean stop deletes the record: the worker is gone from the scrape.
    assert value(scrape(portal), "naevus_workers") == 0
