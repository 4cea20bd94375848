"""Issue #12 item 3: large, highly compressible PNGs must not exhaust a web worker's memory. A real
gunicorn (deploy/gunicorn.conf.py: gthread, 4 threads; one worker here so that one process takes
every request) gets the tester's 49-megapixel black PNGs (143 KB each on the wire, under every size
limit) from four clients at once; the worker's peak RSS (VmHWM from /proc) must stay ≤ 800 MB."""

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, PatientFactory

from .conftest import _free_port
from .figures import record
from .test_bad_input import _black_png

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 8100, 6050  # 49.0 MP, under the 50 MP cap
PEAK_LIMIT_MB = 800
CLIENTS = 4


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.fixture
def web(worker_env, tmp_path):
    """gunicorn with the production config, one worker; yields (base URL, the worker's pid)."""
    port = _free_port()
    env = {
        **worker_env,
        "NAEVUS_HOST": "127.0.0.1",
        "NAEVUS_PORT": str(port),
        "NAEVUS_WEB_WORKERS": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    with open(tmp_path / "gunicorn.log", "wb") as log:
        master = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "portal.wsgi"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/api/v1/auth/csrf/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-3000:]
            time.sleep(0.3)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        assert len(children) == 1
        yield url, int(children[0])
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        master.wait(timeout=30)


def _signed_in(url: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{url}/api/v1/auth/csrf/", timeout=10)
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    response = session.post(
        f"{url}/api/v1/auth/login/", json={"username": "alice", "password": "correct horse battery"}, timeout=10
    )
    assert response.status_code == 200, response.text
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]  # login rotates the token
    return session


def _upload_from_four_clients_at_once(url: str, lesion_id: int, files_each: int) -> tuple[list, float]:
    png = _black_png(WIDTH, HEIGHT)
    sessions = [_signed_in(url) for _ in range(CLIENTS)]

    def send(session):
        files = [("files", (f"mole-{i}.png", png, "image/png")) for i in range(files_each)]
        response = session.post(f"{url}/api/v1/lesions/{lesion_id}/images/", files=files, timeout=300)
        return response.status_code, response.json()

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(send, sessions))
    return answers, time.monotonic() - started


def test_four_clients_sending_49_megapixel_pngs_keep_the_web_worker_under_800_mb(web, alice, clinic_a):
    url, worker_pid = web
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    _signed_in(url)  # the worker's first request imports and warms the stack
    idle_mb = _status_kib(worker_pid, "VmRSS") / 1024

    # Within the per-request budget (2 × 49 MP each): all accepted, 8 full decodes wanting to run at once.
    accepted, accepted_s = _upload_from_four_clients_at_once(url, lesion.pk, files_each=2)
    assert [status for status, _ in accepted] == [202] * CLIENTS, accepted
    assert LesionImage.objects.filter(lesion=lesion, width=WIDTH, height=HEIGHT).count() == 2 * CLIENTS
    peak_accepted_mb = _status_kib(worker_pid, "VmHWM") / 1024
    assert peak_accepted_mb <= PEAK_LIMIT_MB

    # The tester's request, 20 × 49 MP, from four clients at once: refused from the headers alone.
    refused, refused_s = _upload_from_four_clients_at_once(url, lesion.pk, files_each=20)
    assert [(status, body["code"]) for status, body in refused] == [(400, "request_too_many_pixels")] * CLIENTS
    assert all(body["fields"] == {"files": [body["message"]]} for _, body in refused)
    assert LesionImage.objects.filter(lesion=lesion).count() == 2 * CLIENTS
    peak_mb = _status_kib(worker_pid, "VmHWM") / 1024
    assert peak_mb <= PEAK_LIMIT_MB

    record(
        "3",
        "4 clients × 2 × 49 MP PNG accepted, then 4 × 20 × 49 MP refused",
        f"worker RSS idle {idle_mb:.0f} MB, peak {peak_accepted_mb:.0f} MB after the accepted uploads "
        f"({accepted_s:.1f} s), {peak_mb:.0f} MB at the end; the 4 × 20 refused in {refused_s:.2f} s",
    )
