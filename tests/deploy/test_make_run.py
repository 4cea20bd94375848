"""The README's first command, `make run`: the embedded layout on SQLite and kombu's `filesystem://`
broker, started from the Procfile by honcho in a folder of its own (NAEVUS_VAR_DIR).

It runs the `manage.py` steps of the Makefile's `run` target, read from the Makefile itself and in its
order (`migrate`, `createcachetable`, `collectstatic`, `bootstrap_demo` today), then
`honcho start -f Procfile` — with the embedded defaults (no DATABASE_URL, no CELERY_BROKER_URL). What
differs from `make run`, and why:

- A tiny random-weight model (classifier.inference.testing, 64 px) is imported and activated with
  `manage.py model import` before `bootstrap_demo`, so `ensure_demo_model` finds a registered version
  and skips its 1.5–4 min of training on the demo images. Everything else `bootstrap_demo` does (demo
  clinic, admin and clinician, credentials file, printed sign-in) runs unchanged.
- The SPA is not built (`make run` depends on `make frontend`; the browser flows are tests/e2e/):
  this test drives the API the SPA calls, and the Django admin.
- The web port is a spare one (NAEVUS_PORT) and the state folder a temporary one (NAEVUS_VAR_DIR).

Then a clinician signs in with the printed credentials, uploads a real dermoscopy image from
samples/isic, and sees its prediction and heatmap; the admin signs in to the Django admin; every
process stops; `manage.py audit verify` finds the chain intact, and the SQLite trigger refuses to
rewrite or delete an audit row."""

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from .conftest import ROOT, clean_env, free_port

# 4 min 40 s measured on the shared 2-core development machine while other jobs ran (load average about 5).
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

SAMPLE = ROOT / "samples" / "isic" / "ISIC_0024647.jpg"
PATIENT_NAME, MRN = "Ottoline Brackwater", "MRN-SMOKE-4471"


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_for(predicate, *, timeout: float, what: str, honcho: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert honcho.poll() is None, f"honcho exited with {honcho.returncode}:\n{log.read_text()[-4000:]}"
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log.read_text()[-4000:]}")


def _get_json(session: requests.Session, url: str):
    try:
        response = session.get(url, timeout=10)
    except requests.RequestException:  # not listening yet, or too busy starting to answer
        return None
    return response.json() if response.status_code == 200 else None


def make_run_steps() -> list[list[str]]:
    """The `$(PY) manage.py …` lines of the Makefile's `run` recipe, in order: a step added there runs here."""
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "the Makefile has no run target"
    return [line.split()[2:] for line in recipe.group(1).splitlines() if re.match(r"\t\$\(PY\) manage\.py ", line)]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_serves_an_upload_end_to_end_on_sqlite_and_the_filesystem_broker(tmp_path):
    var = tmp_path / "var"
    port = free_port()
    env = clean_env(NAEVUS_VAR_DIR=str(var), NAEVUS_HOST="127.0.0.1", NAEVUS_PORT=str(port), OMP_NUM_THREADS="1")

    from classifier.inference.testing import make_tiny_artifact

    steps = make_run_steps()
    assert steps[-1] == ["bootstrap_demo"] and ["migrate", "--noinput"] in steps, steps
    for step in steps[:-1]:
        manage(env, *step)
    make_tiny_artifact(tmp_path / "tiny.naevus.pt", img_size=64)
    manage(env, "model", "import", str(tmp_path / "tiny.naevus.pt"), "--activate")
    printed = manage(env, *steps[-1])
    assert "a model version is registered already" in printed
    credentials = dict(re.findall(r"^\s+(clinician|admin)\s+/ (\S+)", printed, re.MULTILINE))
    assert set(credentials) == {"clinician", "admin"}, printed
    assert (var / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600
    database = var / "naevus.sqlite3"
    assert database.is_file(), "the embedded run did not use SQLite in NAEVUS_VAR_DIR"

    log = tmp_path / "honcho.log"
    with open(log, "wb") as out:
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        clinician = requests.Session()
        health = wait_for(
            lambda: _get_json(clinician, f"{base}/api/v1/health/"),
            timeout=120,
            what="the web health check",
            honcho=honcho,
            log=log,
        )
        assert health["database"] == "ok" and health["broker"] == "ok" and health["model"]["is_demo"]

        assert clinician.get(f"{base}/api/v1/auth/csrf/", timeout=10).status_code == 200
        clinician.headers["X-CSRFToken"] = clinician.cookies["csrftoken"]
        signed_in = clinician.post(
            f"{base}/api/v1/auth/login/",
            json={"username": "clinician", "password": credentials["clinician"]},
            timeout=30,
        )
        assert signed_in.status_code == 200, signed_in.text
        clinician.headers["X-CSRFToken"] = clinician.cookies["csrftoken"]

        patient = clinician.post(f"{base}/api/v1/patients/", json={"mrn": MRN, "name": PATIENT_NAME}, timeout=30)
        assert patient.status_code == 201, patient.text
        lesion = clinician.post(
            f"{base}/api/v1/patients/{patient.json()['id']}/lesions/",
            json={"anatomic_site": "lower extremity", "label": "left calf"},
            timeout=30,
        )
        assert lesion.status_code == 201, lesion.text
        uploaded = clinician.post(
            f"{base}/api/v1/lesions/{lesion.json()['id']}/images/",
            files={"files": (SAMPLE.name, SAMPLE.read_bytes(), "image/jpeg")},
            timeout=60,
        )
        assert uploaded.status_code == 202, uploaded.text
        image_id = uploaded.json()["images"][0]["id"]

        def done():
            image = _get_json(clinician, f"{base}/api/v1/images/{image_id}/")
            return image and image["predictions"] and image["predictions"][0]["status"] == "done" and image

        prediction = wait_for(done, timeout=120, what="the prediction", honcho=honcho, log=log)["predictions"][0]
        assert 0.0 <= prediction["melanoma_probability"] <= 1.0
        assert prediction["risk_category"] in ("refer", "routine")
        assert prediction["model_version"]["is_demo"]
        heatmap = clinician.get(base + prediction["heatmap_url"], timeout=30)
        assert heatmap.status_code == 200 and heatmap.headers["Content-Type"] == "image/png"
        assert min(Image.open(io.BytesIO(heatmap.content)).size) > 0

        # The Django admin with the printed admin password; collectstatic's files served by whitenoise.
        admin = requests.Session()
        admin.get(f"{base}/admin/login/", timeout=30)
        signed_in = admin.post(
            f"{base}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": credentials["admin"],
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
                "next": "/admin/",
            },
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin/", signed_in.text[:500]
        assert admin.get(f"{base}/admin/records/patient/", timeout=30).status_code == 200
        assert admin.get(f"{base}/static/admin/css/base.css", timeout=30).status_code == 200
    finally:
        if honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
            try:
                honcho.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
    # honcho stops web, worker and beat; nothing of the process group outlives it.
    deadline = time.monotonic() + 15
    while _group_alive(honcho.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _group_alive(honcho.pid)
    if alive:
        os.killpg(honcho.pid, signal.SIGKILL)
    assert not alive, f"processes outlived honcho:\n{log.read_text()[-3000:]}"
    output = log.read_text(errors="replace")
    for name in ("web.1", "worker.1", "beat.1"):
        assert f"{name} stopped" in output, f"{name} did not run and stop:\n{output[-3000:]}"
    for secret in (PATIENT_NAME, MRN, credentials["clinician"], credentials["admin"]):
        assert secret not in output, "the embedded run logged patient data or a credential"

    assert "audit chain intact" in manage(env, "audit", "verify")
    with sqlite3.connect(database) as db:
        (rows,) = db.execute("SELECT count(*) FROM audit_auditevent").fetchone()
        assert rows > 0
        for statement in ("UPDATE audit_auditevent SET outcome = 'tampered'", "DELETE FROM audit_auditevent"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
        assert db.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (rows,)
