"""The production process layout without Docker: what docker-compose.yml runs, as local processes.

A fresh PostgreSQL database, a Redis of its own, moto as the S3-compatible object store, and, through
deploy/entrypoint.sh with portal.settings.production: `web` (migrate + gunicorn), a worker on the
`inference` queue, a worker on the `default` queue, and beat. A clinician signs in over HTTP the way
the SPA does behind the TLS proxy, uploads a zip, and the images and heatmaps end up in the private
bucket, never on the local disk, and reach the browser only through the API."""

import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import numpy as np
import psycopg
import pytest
import requests
from PIL import Image

from .conftest import ROOT, clean_env, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

ENTRYPOINT = str(ROOT / "deploy" / "entrypoint.sh")
BUCKET = "naevus-media"
IMAGES = 5
PATIENT_NAME, MRN = "Zelda Quintrell", "MRN-7731-DEPLOY"
# The password comes from the environment, never the command line (visible in `ps`).
CREATE_CLINICIAN = (
    "import os\n"
    "from portal.accounts.models import Clinic\n"
    "from portal.accounts.services import clinician_create\n"
    "clinician_create(clinic=Clinic.objects.create(name='Deploy clinic'), username='alice',\n"
    "                 password=os.environ['ALICE_PASSWORD'], email='alice@example.org')\n"
)


VERSION_SHAS = (
    "import json\nfrom classifier.models import ModelVersion\n"
    "v = ModelVersion.objects.get(is_active=True)\n"
    "print(json.dumps({'sha256': v.sha256, 'onnx_sha256': v.onnx_sha256}))"
)


class Process:
    """One service in its own process group, so stopping it stops its children (prefork workers)."""

    def __init__(self, name: str, args: list[str], env: dict, logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_for(predicate, *, timeout: float, what: str, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for p in processes:
            assert p.proc.poll() is None, f"{p.name} exited with {p.proc.returncode}:\n{p.log()[-4000:]}"
        time.sleep(0.25)
    logs = "\n".join(f"--- {p.name}\n{p.log()[-3000:]}" for p in processes)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def lesion_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(120, 220, size=(120, 160, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:120, :160]
    arr[(xx - 80) ** 2 + (yy - 60) ** 2 < (20 + seed) ** 2] = (60, 35, 25)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="JPEG", quality=90)
    return out.getvalue()


class Browser:
    """What the SPA does behind the TLS proxy: the proxy's X-Forwarded-Proto, the session and CSRF
    cookies sent back (by hand: they are Secure, and this hop is plain HTTP), Origin and X-CSRFToken
    on every unsafe request."""

    def __init__(self, base: str):
        self.base = base
        self.origin = "https://" + urlsplit(base).netloc
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD"):
            headers.update({"Origin": self.origin, "X-CSRFToken": self.cookies.get("csrftoken", "")})
        response = requests.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=60, **kwargs
        )
        self.set_cookie_headers += response.raw.headers.getlist("Set-Cookie")
        self.cookies.update({c.name: c.value for c in response.cookies})
        return response


@pytest.fixture
def database():
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/naevus"))
    name = f"naevus_deploy_{secrets.token_hex(4)}"
    admin = f"{url.scheme}://{url.netloc}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{url.scheme}://{url.netloc}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def services(tmp_path):
    """Redis and moto, each on a spare loopback port; everything started is stopped at the end."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed to start this test's own Redis (Debian: apt install redis-server)")
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[Process] = []
    redis_port, s3_port = free_port(), free_port()
    started.append(
        Process(
            "redis",
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            clean_env(),
            logs,
        )
    )
    started.append(
        Process("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], clean_env(), logs)
    )
    yield {"redis_port": redis_port, "s3_port": s3_port, "logs": logs, "started": started}
    for process in reversed(started):
        process.stop()


def test_a_batch_goes_through_the_production_layout_into_private_object_storage(database, services, tmp_path):
    started: list[Process] = services["started"]
    redis_url = f"redis://127.0.0.1:{services['redis_port']}"
    s3_url = f"http://127.0.0.1:{services['s3_port']}"
    web_port = free_port()
    media = tmp_path / "media"
    env = clean_env(
        DJANGO_SETTINGS_MODULE="portal.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database,
        CELERY_BROKER_URL=f"{redis_url}/0",
        CACHE_URL=f"{redis_url}/1",
        NAEVUS_S3_BUCKET=BUCKET,
        NAEVUS_S3_ENDPOINT_URL=s3_url,
        NAEVUS_S3_ACCESS_KEY_ID="deploy-test",
        NAEVUS_S3_SECRET_ACCESS_KEY="deploy-test-secret",
        NAEVUS_S3_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        DJANGO_MEDIA_ROOT=str(media),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        NAEVUS_MODEL_STORE=str(tmp_path / "models"),
        NAEVUS_BEAT_SCHEDULE=str(tmp_path / "celerybeat-schedule"),
        NAEVUS_SWEEP_INTERVAL_SECONDS="2",
        NAEVUS_HOST="127.0.0.1",
        NAEVUS_PORT=str(web_port),
        NAEVUS_WEB_WORKERS="2",
        NAEVUS_WORKER_CONCURRENCY="1",
        # One image per task, so that both inference workers can take a share.
        NAEVUS_INFERENCE_CHUNK="1",
        OMP_NUM_THREADS="1",
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id="deploy-test",
        aws_secret_access_key="deploy-test-secret",
        region_name="us-east-1",
    )
    wait_for(lambda: _s3_up(s3), timeout=30, what="moto", processes=started)
    s3.create_bucket(Bucket=BUCKET)

    # The image's build step, then the web container: migrations on start, then gunicorn.
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, capture_output=True
    )
    assert collect.returncode == 0, collect.stderr.decode()
    web = Process("web", [ENTRYPOINT, "web"], env, services["logs"])
    started.append(web)
    base = f"http://127.0.0.1:{web_port}"
    wait_for(lambda: _health(base) == 200, timeout=90, what="the web health check", processes=[web])
    healthcheck = subprocess.run([sys.executable, "deploy/healthcheck.py"], cwd=ROOT, env=env, timeout=30)
    assert healthcheck.returncode == 0

    # Two inference workers as on two machines: each its own model store and cache, neither the
    # operator's. They get the model from the bucket (classifier/model_store.py), by sha256.
    machines = {name: tmp_path / name for name in ("inference-1", "inference-2")}
    inferences = [
        Process(
            f"worker-{name}",
            [ENTRYPOINT, "worker"],
            {
                **env,
                "NAEVUS_WORKER_QUEUES": "inference",
                "NAEVUS_MODEL_STORE": str(root / "models"),
                "NAEVUS_MODEL_CACHE": str(root / "model-cache"),
            },
            services["logs"],
        )
        for name, root in machines.items()
    ]
    default = Process(
        "worker-default", [ENTRYPOINT, "worker"], {**env, "NAEVUS_WORKER_QUEUES": "default"}, services["logs"]
    )
    beat = Process("beat", [ENTRYPOINT, "beat"], env, services["logs"])
    started += [*inferences, default, beat]
    layout = [web, *inferences, default, beat]

    # What an operator does once: import a model and create a clinician.
    from classifier.inference.testing import make_tiny_artifact

    artifact = tmp_path / "tiny.naevus.pt"
    make_tiny_artifact(artifact, img_size=64)
    password = secrets.token_urlsafe(16)
    for command in (
        ["model", "import", str(artifact), "--activate"],
        ["shell", "-c", CREATE_CLINICIAN],
    ):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env={**env, "ALICE_PASSWORD": password},
            capture_output=True,
        )
        assert done.returncode == 0, done.stderr.decode()
    # The operator's copy goes: what workers serve can only come from the bucket.
    shutil.rmtree(tmp_path / "models")
    model_keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="models/")["Contents"])
    assert [k.rsplit("/", 1)[1] for k in model_keys] == ["model.naevus.pt", "model.onnx"]

    browser = Browser(base)
    assert browser.request("GET", "/api/v1/auth/csrf/").status_code == 200
    login = browser.request("POST", "/api/v1/auth/login/", json={"username": "alice", "password": password})
    assert login.status_code == 200, login.text
    session_cookie = next(h for h in browser.set_cookie_headers if h.startswith("sessionid="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie
    # Over plain HTTP without the proxy's header, the site only redirects to HTTPS.
    plain = requests.get(base + "/api/v1/auth/me/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

    patient = browser.request("POST", "/api/v1/patients/", json={"mrn": MRN, "name": PATIENT_NAME, "sex": "female"})
    assert patient.status_code == 201, patient.text
    lesion = browser.request(
        "POST", f"/api/v1/patients/{patient.json()['id']}/lesions/", json={"anatomic_site": "torso", "label": "L1"}
    )
    assert lesion.status_code == 201, lesion.text
    archive, mapping = io.BytesIO(), io.StringIO()
    rows = csv.writer(mapping)
    rows.writerow(["file_name", "mrn", "lesion_label", "anatomic_site"])
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(IMAGES):
            zf.writestr(f"img_{i}.jpg", lesion_jpeg(i))
            rows.writerow([f"img_{i}.jpg", MRN, "L1", "torso"])
    created = browser.request(
        "POST",
        "/api/v1/batches/",
        files={
            "archive": ("batch.zip", archive.getvalue(), "application/zip"),
            "mapping": ("mapping.csv", mapping.getvalue().encode(), "text/csv"),
        },
    )
    assert created.status_code == 202, created.text
    batch_id = created.json()["id"]
    batch = wait_for(
        lambda: (b := browser.request("GET", f"/api/v1/batches/{batch_id}/").json())["status"] == "done" and b,
        timeout=120,
        what="the batch",
        processes=layout,
    )
    assert batch["done"] == IMAGES and batch["failed"] == 0

    history = browser.request("GET", f"/api/v1/patients/{patient.json()['id']}/history/").json()
    (lesion_history,) = history["lesions"]
    images = lesion_history["images"]
    assert len(images) == IMAGES and lesion_history["id"] == lesion.json()["id"]

    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) if not o["Key"].startswith("models/")
    ]
    stored_images = [k for k in keys if not k.startswith("heatmaps/")]
    # The workers stored each CAM in the database and no PNG: a heatmap is drawn on its first request.
    assert not [k for k in keys if k.startswith("heatmaps/")] and len(stored_images) == IMAGES
    heatmap_url = images[0]["predictions"][0]["heatmap_url"]
    heatmap = browser.request("GET", urlsplit(heatmap_url).path)
    assert heatmap.status_code == 200 and heatmap.headers["Content-Type"] == "image/png"
    heatmaps = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="heatmaps/").get("Contents", [])]
    assert len(heatmaps) == 1
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*")), "media written to local disk"

    by_sha = {hashlib.sha256(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()).hexdigest(): k for k in stored_images}
    image = images[0]
    served = browser.request("GET", f"/api/v1/images/{image['id']}/file/")
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert hashlib.sha256(served.content).hexdigest() == image["sha256"]
    key = by_sha[image["sha256"]]
    # The objects are private: the bucket URL answers an anonymous browser with 403, and only the
    # API (which checks the clinic) hands them out.
    for object_key in (key, heatmaps[0]):
        assert requests.get(f"{s3_url}/{BUCKET}/{object_key}", timeout=30).status_code == 403
        grants = s3.get_object_acl(Bucket=BUCKET, Key=object_key)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"] and grants[0]["Grantee"]["Type"] == "CanonicalUser"
    assert Browser(base).request("GET", f"/api/v1/images/{image['id']}/file/").status_code in (401, 403)

    # Two queues, two workers: predictions on one, beat's sweeper on the other.
    # (A worker's start-up banner lists every task; "Task name[id]" lines are the ones it ran.)
    wait_for(lambda: "Task classifier.tasks.sweep[" in default.log(), timeout=30, what="a sweep", processes=layout)
    ran = [w for w in inferences if "Task classifier.tasks.predict[" in w.log()]
    assert ran, "no inference worker ran a prediction"
    assert all("Task classifier.tasks.sweep[" not in w.log() for w in inferences)
    assert "Task classifier.tasks.predict[" not in default.log()
    # Each worker that served the model fetched it into its own cache, named by sha256 and verified.
    shell = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", VERSION_SHAS], cwd=ROOT, env=env, capture_output=True, check=True
    )
    version = json.loads(shell.stdout.decode().strip().splitlines()[-1])  # after the JSON log lines
    for worker in ran:
        cache = machines[worker.name.removeprefix("worker-")] / "model-cache"
        fetched = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in cache.iterdir()}
        assert fetched == {
            f"{version['sha256']}.naevus.pt": version["sha256"],
            f"{version['onnx_sha256']}.onnx": version["onnx_sha256"],
        }, worker.name
    for root in machines.values():
        assert not (root / "models").exists() or not any((root / "models").rglob("*.*")), "a worker wrote a model store"

    for process in layout:
        process.stop()
    logs = {p.name: p.log() for p in layout}
    for name, text in logs.items():
        for secret in (PATIENT_NAME, MRN, password, browser.cookies["sessionid"]):
            assert secret not in text, f"{name} logged patient data or a credential"
    for line in filter(str.strip, logs["web"].splitlines()):
        assert isinstance(json.loads(line), dict), f"web wrote a line that is not JSON: {line!r}"


def _s3_up(s3) -> bool:
    try:
        s3.list_buckets()
        return True
    except Exception:  # noqa: BLE001 — still starting
        return False


def _health(base: str) -> int:
    try:
        return requests.get(
            base + "/api/v1/health/", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False, timeout=5
        ).status_code
    except requests.RequestException:  # not listening yet, or a first request still loading the app
        return 0
