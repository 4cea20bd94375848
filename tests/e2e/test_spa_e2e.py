"""The SPA in Debian's Chromium (playwright-core, frontend/e2e/run.mjs) against the real backend: gunicorn
serving the built SPA and the API on the test database, a real Celery worker on the local Redis, a registered
model (a tiny random-init one: the flow is about the product, not the model), and for the clinic-account flow
the real Firebase Auth emulator."""

import datetime as dt
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from django.utils import timezone

from classifier.tests.conftest import WorkerProcess
from classifier.tests.test_worker_integration import lesion_jpeg
from portal.accounts.models import Invitation
from portal.accounts.tests.emulator import PROJECT_ID, AuthEmulator, node_available
from portal.tests.factories import PatientFactory

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


@contextmanager
def _portal(env: dict, log_path: Path, port: int | None = None):
    """gunicorn serving the built SPA (with its injected run-time config) and the API; yields its base URL."""
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        pytest.fail("the SPA is not built: run `make frontend` (make test-e2e does)")
    port = port or _free_port()
    with open(log_path, "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--threads", "4"],
            cwd=ROOT, env={**env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/health/")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=20)


def _run_browser(env: dict) -> None:
    if not shutil.which("chromium") and not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is missing: `make chromium` installs it")
    result = subprocess.run(
        ["node", "e2e/run.mjs"], cwd=ROOT / "frontend", env={**os.environ, **env}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0, "the browser flow failed (see output and frontend/test-results/)"
    assert " 0 failed" in result.stdout


@pytest.fixture
def backend(worker_env, tmp_path, tiny_model):
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        with _portal(worker_env, tmp_path / "gunicorn.log") as url:
            yield url
    finally:
        worker.stop()


@pytest.fixture
def auth_emulator(tmp_path):
    """A real Firebase Auth emulator. Fails (never skips) when Node is here but it will not start."""
    if not node_available():
        pytest.fail("Node.js and npm are needed for the Firebase Auth emulator (and for the SPA's e2e script)")
    emulator = AuthEmulator(tmp_path)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def firebase_backend(worker_env, tmp_path, auth_emulator):
    """The portal as a developer runs it against the emulator. DEBUG is on in this server only: the portal
    refuses the emulator without it. No worker: this flow signs in and reads, it never analyses."""
    env = {
        **worker_env,
        "DJANGO_DEBUG": "1",
        "FIREBASE_PROJECT_ID": PROJECT_ID,
        "FIREBASE_WEB_API_KEY": "fake-api-key",
        "FIREBASE_AUTH_EMULATOR_HOST": auth_emulator.host,
    }
    with _portal(env, tmp_path / "gunicorn.log") as url:
        yield url


def _follow_up_due(clinic, reader, model_version) -> str:
    """A lesion whose signed first read (three months ago) asked for a routine follow-up that is now due:
    time cannot pass in a browser test, so the read is written as it would stand today."""
    from classifier.models import Prediction
    from portal.tests.factories import LesionFactory, LesionImageFactory, PatientFactory
    from triage.models import Review

    patient = PatientFactory(clinic=clinic, name="Follow-up Patient")
    image = LesionImageFactory(lesion=LesionFactory(patient=patient, label="Shoulder"))
    signed = timezone.now() - dt.timedelta(days=90)
    prediction = Prediction.objects.create(
        image=image,
        model_version=model_version,
        image_sha256=image.sha256,
        status=Prediction.Status.DONE,
        melanoma_probability=0.2,
        risk_category="routine" if 0.2 < model_version.threshold else "refer",
        threshold=model_version.threshold,
        finished_at=signed,
    )
    Review.objects.create(
        clinic=clinic,
        prediction=prediction,
        reader=reader,
        kind="first",
        assessment="benign",
        management="routine_follow_up",
        follow_up_date=timezone.localdate() - dt.timedelta(days=1),
        agrees_with_model=prediction.risk_category == "routine",
        model_risk=prediction.risk_category,
        signed_at=signed,
    )
    return patient.name


def _render_first_page(pdf: Path, png: Path) -> None:
    """Page 1 of a PDF the browser downloaded, as the screenshot the issue asks for (pypdfium2: PDFium's
    renderer; headless Chromium shows no PDF viewer)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(pdf))
    try:
        document[0].render(scale=1.5).to_pil().save(png)
    finally:
        document.close()


def test_a_clinician_signs_in_registers_a_patient_uploads_sees_the_result_runs_a_batch_and_signs_out(
    backend, alice, bob, clinic_a, tmp_path, tiny_model
):
    image = tmp_path / "lesion.jpg"
    image.write_bytes(lesion_jpeg(7, size=(600, 450)))
    archive = tmp_path / "batch.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(6):
            zf.writestr(f"batch_{i}.jpg", lesion_jpeg(100 + i))
    archive.write_bytes(buf.getvalue())
    # Three new lesions of two new patients (two images each), created by the batch: the worklist then holds
    # the uploaded lesion and these three.
    mapping = tmp_path / "mapping.csv"
    lesions = [("E2E-B1", "Back", "torso"), ("E2E-B1", "Arm", "upper extremity"), ("E2E-B2", "Leg", "lower extremity")]
    rows = [
        f"batch_{i}.jpg,{mrn},Batch Patient {mrn},{label},{site}\n"
        for i, (mrn, label, site) in enumerate(lesion for lesion in lesions for _ in range(2))
    ]
    mapping.write_text("file_name,mrn,patient_name,lesion_label,anatomic_site\n" + "".join(rows))
    assert tiny_model.is_demo, "the flow checks the demo label on every result screen"
    from triage.models import ReviewPolicy

    # Every first read gets a second, independent read: bob reads alice's in the browser.
    ReviewPolicy.objects.update_or_create(clinic=clinic_a, defaults={"second_read_share": 1.0})
    follow_up_patient = _follow_up_due(clinic_a, alice, tiny_model)
    _run_browser(
        {
            "E2E_FLOWS": "session",
            "E2E_BASE_URL": backend,
            "E2E_USERNAME": "alice",
            "E2E_PASSWORD": "correct horse battery",
            "E2E_IMAGE": str(image),
            "E2E_ZIP": str(archive),
            "E2E_MAPPING": str(mapping),
            "E2E_BATCH_FILES": "6",
            "E2E_DEMO_MODEL": "1",
            "E2E_SECOND_USERNAME": "bob",
            "E2E_SECOND_PASSWORD": "correct horse battery",
            "E2E_FOLLOW_UP_PATIENT": follow_up_patient,
        }
    )
    results = Path(__file__).resolve().parents[2] / "frontend" / "test-results"
    _render_first_page(results / "visit-report.pdf", results / "07f-visit-report-page1.png")


def test_an_invited_clinician_signs_in_with_a_clinic_account_and_an_uninvited_one_is_told_why(
    firebase_backend, auth_emulator, alice
):
    clinic = alice.membership.clinic
    PatientFactory(clinic=clinic, name="Firebase Flow Patient")
    invited = auth_emulator.sign_up("dana@clinic-a.test")
    auth_emulator.verify_email(invited.uid)
    Invitation.objects.create(clinic=clinic, email=invited.email, invited_by=alice)
    # Verified too, so that the only thing missing is an invitation.
    stranger = auth_emulator.sign_up("erin@elsewhere.test")
    auth_emulator.verify_email(stranger.uid)

    _run_browser(
        {
            "E2E_FLOWS": "firebase",
            "E2E_BASE_URL": firebase_backend,
            "E2E_FIREBASE_EMAIL": invited.email,
            "E2E_FIREBASE_PASSWORD": invited.password,
            "E2E_FIREBASE_PATIENT": "Firebase Flow Patient",
            "E2E_FIREBASE_UNINVITED_EMAIL": stranger.email,
            "E2E_FIREBASE_UNINVITED_PASSWORD": stranger.password,
        }
    )
    assert Invitation.objects.get(email=invited.email).accepted_at is not None


@pytest.fixture
def oidc_backend(worker_env, tmp_path, clinic_a):
    """The portal configured for a real OpenID Connect provider (django-oidc-provider in its own process,
    portal/accounts/tests/oidc_provider.py), as docs/deploy.md says. The provider serves at localhost and the
    portal at 127.0.0.1: a browser keeps cookies per host, and both are Django sites with a `sessionid`."""
    from portal.accounts.tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider

    port = _free_port()
    (tmp_path / "idp").mkdir()
    provider = Provider(tmp_path / "idp", rp=f"http://127.0.0.1:{port}", host="localhost")
    provider.start()
    try:
        d = provider.discovery()
        env = {
            **worker_env,
            "OIDC_PROVIDER_NAME": "Test IdP",
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_OP_ISSUER": d["issuer"],
            "OIDC_OP_AUTHORIZATION_ENDPOINT": d["authorization_endpoint"],
            "OIDC_OP_TOKEN_ENDPOINT": d["token_endpoint"],
            "OIDC_OP_USER_ENDPOINT": d["userinfo_endpoint"],
            "OIDC_OP_JWKS_ENDPOINT": d["jwks_uri"],
            "OIDC_OP_LOGOUT_ENDPOINT": d["end_session_endpoint"],
        }
        with _portal(env, tmp_path / "gunicorn.log", port=port) as url:
            yield url
    finally:
        provider.stop()


def test_an_invited_clinician_signs_in_through_the_oidc_provider_and_signs_out_of_both(oidc_backend, clinic_a):
    from portal.accounts.tests.oidc_provider import PASSWORD, USERS

    Invitation.objects.create(clinic=clinic_a, email=USERS["dana"]["email"], role="clinician")
    PatientFactory(clinic=clinic_a, name="OIDC Flow Patient")
    _run_browser(
        {
            "E2E_FLOWS": "oidc",
            "E2E_BASE_URL": oidc_backend,
            "E2E_OIDC_PROVIDER": "Test IdP",
            "E2E_OIDC_USERNAME": "dana",
            "E2E_OIDC_PASSWORD": PASSWORD,
            "E2E_OIDC_PATIENT": "OIDC Flow Patient",
            "E2E_OIDC_UNINVITED_USERNAME": "erin",
        }
    )


def _analysed_in_process(api, lesion, data: bytes, name: str) -> int:
    """Uploads through the API and analyses with the worker's own code (classifier.tasks.predict) in this
    process: the flow only reads results, so no worker process is started."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.tasks import predict

    content_type = "image/png" if name.endswith(".png") else "image/jpeg"
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile(name, data, content_type)]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    prediction_id = response.json()["images"][0]["predictions"][0]["id"]
    predict.apply(args=[[prediction_id]])
    return prediction_id


@pytest.fixture
def trust_backend(worker_env, tmp_path, clinic_a, alice, as_user):
    """Two patients analysed by a model whose embeddings tell images apart (Lite0's ImageNet backbone, packaged
    weights) and which carries out-of-distribution statistics fitted on samples/isic (`training.core.ood`): one
    with four naevi and a vascular lesion (the odd one out), one with a natural photo and a blurred naevus."""
    import csv

    from PIL import Image

    from classifier.inference.artifact import load_artifact
    from classifier.inference.degrade import gaussian_blur
    from classifier.inference.testing import SAMPLES, make_imagenet_artifact, natural_photos
    from classifier.models import Prediction
    from classifier.services import model_version_register
    from portal.tests.factories import LesionFactory
    from training.core import ood as ood_command

    plain = tmp_path / "lite0.naevus.pt"
    plain_sha256, _ = make_imagenet_artifact(plain)
    fitted = tmp_path / "lite0-ood.naevus.pt"
    assert ood_command.main([str(plain), "--images", str(SAMPLES), "--out", str(fitted), "--sha256", plain_sha256]) == 0
    artifact = load_artifact(fitted, expected_sha256=None)
    model_version_register(artifact_path=str(fitted), sha256=artifact.sha256, meta=artifact.meta, activate=True)

    with open(SAMPLES / "labels.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["image_name"])
    naevi = [r["image_name"] for r in rows if r["diagnosis"] == "nevus"][:4]
    vascular = next(r["image_name"] for r in rows if r["diagnosis"] == "vascular lesion")
    api = as_user(alice)
    spots = PatientFactory(clinic=clinic_a, name="Trust Flow Spots")
    for i, name in enumerate([*naevi, vascular]):
        label = "Odd lesion" if name == vascular else f"Naevus {i + 1}"
        _analysed_in_process(
            api, LesionFactory(patient=spots, label=label), (SAMPLES / f"{name}.jpg").read_bytes(), f"{name}.jpg"
        )
    photos = PatientFactory(clinic=clinic_a, name="Trust Flow Photos")
    _, photo = natural_photos()[0]
    photo_id = _analysed_in_process(api, LesionFactory(patient=photos, label="Not dermoscopy"), photo, "photo.png")
    sharp = np.asarray(Image.open(SAMPLES / f"{naevi[0]}.jpg").convert("RGB"))
    blurred = io.BytesIO()
    Image.fromarray(gaussian_blur(sharp, sigma_fraction=0.02)).save(blurred, "JPEG")
    blurred_id = _analysed_in_process(api, LesionFactory(patient=photos, label="Blurred"), blurred.getvalue(), "b.jpg")
    # What the browser must then show is what was stored: checked here, so a flow failure points at the SPA.
    assert Prediction.objects.get(pk=photo_id).ood_flag is True
    assert Prediction.objects.get(pk=blurred_id).quality_reasons == ["blurred"]
    with _portal(worker_env, tmp_path / "gunicorn.log") as url:
        yield url


def test_the_case_history_and_worklist_show_the_quality_advice_the_ood_warning_and_the_odd_one_out(trust_backend):
    _run_browser(
        {
            "E2E_FLOWS": "trust",
            "E2E_BASE_URL": trust_backend,
            "E2E_USERNAME": "alice",
            "E2E_PASSWORD": "correct horse battery",
            "E2E_TRUST_SPOTS": "Trust Flow Spots",
            "E2E_TRUST_PHOTOS": "Trust Flow Photos",
        }
    )
