"""What every benchmark section shares: the images, the model artifact, a private copy of the
product (its own PostgreSQL database, its own redis-server, gunicorn and a Celery worker started
as the Procfile starts them), an API client, memory readings from /proc, and the figure record.

Nothing here touches the shared services' other databases: the stack creates
``naevus_bench_<random>`` on the local PostgreSQL and drops it on exit."""

from __future__ import annotations

import io
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SHARED_600 = ROOT.parent / "shared" / "data" / "isic-ham-600px"
SAMPLES = ROOT / "samples" / "isic"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
BIG_SIZE = (6000, 4000)
USERNAME, PASSWORD = "bench-clinician", "bench password 123"


# --- figures -------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the final table. ``ratio`` is always ours / baseline; ``target`` says which way is
    better, and ``met`` is None where the issue sets no target or nothing was measured."""

    figure: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def loadavg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- images and the model ------------------------------------------------------------------------


def source_images() -> tuple[list[Path], str]:
    """Real dermoscopy JPEGs at 600×450: the shared HAM set when this checkout has it, else the
    committed samples (a user's clone)."""
    folder = SHARED_600 if SHARED_600.is_dir() else SAMPLES
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no images in {folder}")
    return paths, str(folder.relative_to(ROOT.parent) if folder == SHARED_600 else folder.relative_to(ROOT))


def image_bytes(paths: list[Path], n: int) -> list[bytes]:
    """``n`` images cycling through ``paths`` (bytes, as a client would send them)."""
    return [paths[i % len(paths)].read_bytes() for i in range(n)]


def upscaled(data: list[bytes], folder: Path) -> list[bytes]:
    """The same images at 6000×4000 (24 MP), JPEG q=90, cached in ``folder`` for the run."""
    out = []
    for i, raw in enumerate(data):
        path = folder / f"big_{i:04d}.jpg"
        if not path.exists():
            img = Image.open(io.BytesIO(raw)).convert("RGB").resize(BIG_SIZE, Image.Resampling.BICUBIC)
            img.save(path, format="JPEG", quality=90)
        out.append(path.read_bytes())
    return out


def zip_of(images: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, data in enumerate(images):
            zf.writestr(f"img_{i:05d}.jpg", data)
    return buf.getvalue()


def make_artifact(path: Path, *, arch: str, img_size: int, mean_std: float | None) -> tuple[str, dict]:
    """A random-init serving artifact: throughput does not depend on the weights."""
    import torch

    from classifier.inference.artifact import build_meta, save_artifact
    from classifier.inference.factory import create_model
    from classifier.inference.preprocessing import Preprocess

    torch.manual_seed(0)
    model = create_model(arch, num_classes=1)
    pre = (
        Preprocess(img_size=img_size)
        if mean_std is None
        else Preprocess(img_size=img_size, mean=(mean_std,) * 3, std=(mean_std,) * 3)
    )
    meta = build_meta(
        arch=arch,
        class_names=["melanoma"],
        preprocess=pre,
        threshold=0.5,
        is_demo=True,
        name=f"bench {arch} (random weights)",
        version="bench",
    )
    return save_artifact(path, state_dict=model.state_dict(), meta=meta), meta


# --- memory --------------------------------------------------------------------------------------


def proc_status_mb(pid: int, key: str) -> float | None:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in MB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


# --- CPU time ------------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (threads included)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine (the server is shared: nothing else should be running)."""
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class CpuAccount:
    """CPU seconds each group of processes spent between `start` and `stop`. The groups are looked up at
    both ends; a process that started and ended in between (a short-lived database connection) is not
    counted, so each figure is at least what was spent."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}

    def _snapshot(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds([pid]) for pid in pids()} for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self._snapshot()

    def stop(self) -> dict[str, float]:
        after = self._snapshot()
        return {
            name: sum(cpu - self.before[name].get(pid, 0.0) for pid, cpu in after[name].items()) for name in self.groups
        }


# --- the private stack ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _stop_group(proc: subprocess.Popen | None, *, grace: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class Stack:
    """The product as the Procfile runs it (gunicorn 2 workers × 4 threads, one Celery worker at
    concurrency 1 with prefetch 1), on a database and a Redis of its own, files in a temp folder.

    The bench process itself is configured against the same database (Django set up in-process) so
    that sections can seed data and count queries."""

    def __init__(self, *, keep_logs: Path | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="naevus-bench-"))
        self.db_name = f"naevus_bench_{secrets.token_hex(4)}"
        self.redis_port = free_port()
        self.web_port = free_port()
        self.logs = keep_logs or self.tmp
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings.local",
            "DATABASE_URL": f"{PG_ADMIN_URL}/{self.db_name}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            # Throttle and lockout counters shared by the web processes, as production keeps them.
            "CACHE_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "DJANGO_MEDIA_ROOT": str(self.tmp / "media"),
            "NAEVUS_MODEL_STORE": str(self.tmp / "models"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "NAEVUS_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.base_url = f"http://127.0.0.1:{self.web_port}"

    # lifecycle

    def __enter__(self) -> Stack:
        import psycopg

        with psycopg.connect(f"{PG_ADMIN_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=open(self.logs / "redis.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        # The bench process writes records too: its cache is the stack's, so its writes renew the stamps the web
        # processes cache the worklist's counts under (portal/core/clinic_changes.py).
        os.environ.update(
            {k: self.env[k] for k in self.env if k.startswith(("DJANGO", "DATABASE", "CELERY", "NAEVUS", "CACHE"))}
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        return self

    def __exit__(self, *exc) -> None:
        self.stop_worker()
        self.stop_web()
        _stop_group(self.redis, grace=5)
        from django.db import connections

        connections.close_all()
        import psycopg

        with psycopg.connect(f"{PG_ADMIN_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.web_port}", "--workers", "2",
             "--threads", "4", "--timeout", "120"],
            cwd=ROOT, env=self.env, stdout=open(self.logs / "gunicorn.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

        def up():
            try:
                return requests.get(f"{self.base_url}/api/v1/health/", timeout=2).status_code < 500
            except requests.RequestException:
                return False

        wait_for(up, timeout=90, interval=0.3, what="gunicorn")

    def start_worker(self) -> None:
        self.worker = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "portal", "worker", "-Q", "inference,default", "--concurrency", "1",
             "--prefetch-multiplier", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"bench-{secrets.token_hex(3)}@%h", "-l", "WARNING"],
            cwd=ROOT, env=self.env, stdout=open(self.logs / "worker.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(lambda: children(self.worker.pid), timeout=90, interval=0.3, what="the Celery pool process")

    def stop_web(self) -> None:
        _stop_group(self.web)

    def stop_worker(self) -> None:
        _stop_group(self.worker)

    # processes whose memory matters

    def web_pids(self) -> list[int]:
        return children(self.web.pid) if self.web else []

    def worker_pids(self) -> list[int]:
        """The pool process (where the model lives) and the Celery main process."""
        return (children(self.worker.pid) + [self.worker.pid]) if self.worker else []

    # data

    def seed_clinic(self, *, artifact: Path, sha256: str, meta: dict):
        """The bench clinic, its clinician and the active model version."""
        from django.contrib.auth import get_user_model

        from classifier.services import model_version_register
        from portal.accounts.models import Clinic, Membership, Role

        clinic = Clinic.objects.create(name=f"Bench clinic {secrets.token_hex(2)}")
        user = get_user_model().objects.create_user(username=USERNAME, password=PASSWORD)
        Membership.objects.create(user=user, clinic=clinic, role=Role.CLINICIAN)
        version = model_version_register(artifact_path=str(artifact), sha256=sha256, meta=meta, activate=True)
        return clinic, user, version


class Api:
    """A signed-in clinician's session against the stack (session cookie + CSRF header)."""

    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.s = session or requests.Session()

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> Api:
        token = self.s.get(f"{self.base}/auth/csrf/", timeout=10).json()["csrfToken"]
        self.s.headers.update({"X-CSRFToken": token, "Referer": self.base})
        r = self.s.post(f"{self.base}/auth/login/", json={"username": username, "password": password}, timeout=10)
        r.raise_for_status()
        self.s.headers["X-CSRFToken"] = self.s.cookies.get("csrftoken", token)
        return self

    def clone(self) -> Api:
        """Another client with the same session (logging 50 clinicians in would trip the login throttle)."""
        s = requests.Session()
        s.cookies.update(self.s.cookies)
        s.headers.update(self.s.headers)
        return Api(self.base[: -len("/api/v1")], s)

    def get(self, path: str, **kw) -> requests.Response:
        return self.s.get(self.base + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.s.post(self.base + path, timeout=kw.pop("timeout", 300), **kw)

    def new_lesion(self) -> int:
        mrn = f"B{random.randrange(10**9)}"
        patient = self.post("/patients/", json={"mrn": mrn, "name": "Bench patient", "sex": "unknown"}).json()
        lesion = self.post(f"/patients/{patient['id']}/lesions/", json={"anatomic_site": "torso", "label": "bench"})
        return lesion.json()["id"]

    def run_batch(self, archive: bytes, *, poll_s: float = 0.25, timeout: float = 1800) -> dict:
        """Uploads a zip and waits for every prediction; returns timings (s from the upload start)."""
        start = time.perf_counter()
        r = self.post("/batches/", files={"archive": ("bench.zip", archive, "application/zip")}, timeout=timeout)
        if r.status_code != 202:
            raise RuntimeError(f"batch upload answered {r.status_code}: {r.text[:300]}")
        uploaded = time.perf_counter() - start
        batch_id = r.json()["id"]

        def finished():
            body = self.get(f"/batches/{batch_id}/").json()
            return body if body["status"] != "running" else None

        body = wait_for(finished, timeout=timeout, interval=poll_s, what=f"batch {batch_id}")
        return {
            "id": batch_id,
            "upload_s": uploaded,
            "total_s": time.perf_counter() - start,
            "done": body["done"],
            "failed": body["failed"],
        }
