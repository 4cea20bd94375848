"""Issue #12, item 2: the sign-in throttle and lock-out hold against a spoofed X-Forwarded-For and across
web processes, also when the attempts arrive at the same instant. The in-process tests use the test
client; the others send sign-ins over HTTP to a real 3-worker gunicorn, once sharing its counters
through Redis (production) and once through the embedded run's database cache (`make run`: SQLite, no
CACHE_URL)."""

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from classifier.tests.conftest import wait_for
from portal.audit.models import AuditEvent

from .conftest import ROOT, RedisServer, _free_port
from .figures import record

pytestmark = pytest.mark.reliability

PASSWORD = "correct horse battery"
WORKERS = 3


@pytest.fixture
def login_rate_three_a_minute(monkeypatch):
    """DRF reads the rates once, at import: set them on the class (the test settings raise them)."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/min"})
    cache.clear()


def _sign_in(client, forwarded_for: str, username="alice", password=PASSWORD):
    return client.post(
        "/api/v1/auth/login/",
        {"username": username, "password": password},
        format="json",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.mark.django_db
def test_a_rotating_spoofed_x_forwarded_for_does_not_escape_the_login_throttle(login_rate_three_a_minute, alice):
    codes = [_sign_in(APIClient(), f"203.0.113.{i}").status_code for i in range(24)]
    passed = sum(code != 429 for code in codes)
    record("12.2", "sign-ins passed with a rotating spoofed X-Forwarded-For (limit 3/min)", f"{passed} of 24")
    assert passed == 3


@pytest.mark.django_db
def test_behind_one_trusted_proxy_clients_are_told_apart_by_the_address_it_appended(
    login_rate_three_a_minute, alice, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # What the client wrote itself (left) changes every time; what the proxy appended (right) does not.
    codes = [_sign_in(APIClient(), f"198.51.100.{i}, 10.0.0.1").status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert _sign_in(APIClient(), "198.51.100.9, 10.0.0.2").status_code == 200
    sign_ins = AuditEvent.objects.filter(object_type="login").order_by("id")
    assert [row.ip for row in sign_ins] == ["10.0.0.1"] * 3 + ["10.0.0.2"]


# --- a real multi-worker gunicorn ----------------------------------------------------------------------


def _manage(env: dict, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


CREATE_USERS = """
from portal.accounts.models import Clinic
from portal.accounts.services import clinician_create
clinic = Clinic.objects.create(name="Clinic A")
for name in ("alice", "bob"):
    clinician_create(clinic=clinic, username=name, password="correct horse battery", email=f"{name}@example.org")
"""


def _server_env(tmp_path: Path, **settings: str) -> dict:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_", "CACHE_"))}
    return {
        **keep,
        # The embedded run's settings: production's own counters, without its HTTPS-only cookies.
        "DJANGO_SETTINGS_MODULE": "portal.settings.local",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "NAEVUS_THROTTLE_LOGIN": "10/min",
        "NAEVUS_LOCKOUT_FAILURES": "5",
        # One trusted proxy: the test plays it, appending each client's address to X-Forwarded-For.
        "NAEVUS_NUM_PROXIES": "1",
        "OMP_NUM_THREADS": "1",
        **settings,
    }


@contextmanager
def _gunicorn(env: dict, tmp_path: Path):
    """gunicorn with WORKERS sync worker processes; its access log names the process that answered."""
    port = _free_port()
    access_log = tmp_path / "access.log"
    with open(tmp_path / "gunicorn.log", "wb") as log:
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(WORKERS), "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(U)s"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), timeout=90, interval=0.3, message="gunicorn")
        yield url, access_log
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/v1/auth/csrf/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(params=["redis", "embedded"])
def portal_server(request, tmp_path, transactional_db):
    """Yields (base URL, access log). `redis`: CACHE_URL on a redis-server of the test's own, PostgreSQL
    (the test database: requested here, since `request.getfixturevalue("transactional_db")` left the
    connection on the base database, so the server used whatever that held). `embedded`: what
    `make run` has: SQLite and no CACHE_URL at all (migrate, createcachetable)."""
    if request.param == "redis":
        redis_server = RedisServer(tmp_path / "redis").start()
        request.addfinalizer(redis_server.stop)
        db = connection.settings_dict
        env = _server_env(
            tmp_path,
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            CACHE_URL=redis_server.url,
            CELERY_BROKER_URL=redis_server.url,
        )
    else:
        env = _server_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'naevus.sqlite3'}")
        _manage(env, "migrate", "--noinput", "-v", "0")
        _manage(env, "createcachetable")
    _manage(env, "shell", "-c", CREATE_USERS)
    with _gunicorn(env, tmp_path) as server:
        yield server


_spoofed = itertools.count()


def _attempt(url: str, client_address: str, username: str, password: str) -> tuple[int, str]:
    """One sign-in through a proxy that appended `client_address` to what the client sent (a new lie each time)."""
    session = requests.Session()
    token = session.get(f"{url}/api/v1/auth/csrf/", timeout=30).json()["csrfToken"]
    response = session.post(
        f"{url}/api/v1/auth/login/",
        json={"username": username, "password": password},
        headers={"X-CSRFToken": token, "X-Forwarded-For": f"203.0.113.{next(_spoofed) % 250}, {client_address}"},
        timeout=60,
    )
    return response.status_code, response.json().get("code", "")


BURST = 24


def _burst(url: str, client_address: str) -> list[tuple[int, str, str | None]]:
    """BURST sign-ins from one client, released together: each has its session and CSRF token first, then
    all wait at a barrier and post at once. (status, code, Retry-After) each."""
    barrier = threading.Barrier(BURST)

    def attempt(_):
        session = requests.Session()
        token = session.get(f"{url}/api/v1/auth/csrf/", timeout=60).json()["csrfToken"]
        barrier.wait(timeout=120)
        response = session.post(
            f"{url}/api/v1/auth/login/",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-CSRFToken": token, "X-Forwarded-For": f"203.0.113.{next(_spoofed) % 250}, {client_address}"},
            timeout=120,
        )
        return response.status_code, response.json().get("code", ""), response.headers.get("Retry-After")

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(attempt, range(BURST)))


def test_the_login_throttle_and_lock_out_hold_across_gunicorn_workers(portal_server, request):
    url, access_log = portal_server
    kind = request.node.callspec.params["portal_server"]

    # BURST right passwords from one client at the same instant: no more than the advertised 10 pass
    # (DRF's own throttle read and rewrote its history, so concurrent workers each saw the old one).
    burst = _burst(url, "10.0.0.5")
    burst_passed = sum(status == 200 for status, _, _ in burst)
    record("12.2", f"simultaneous sign-ins passed, limit 10/min, {kind} cache", f"{burst_passed} of {BURST}")
    assert burst_passed == 10, Counter(status for status, _, _ in burst)
    refused = [(status, code) for status, code, _ in burst if status != 200]
    assert refused == [(429, "throttled")] * (BURST - 10)
    assert all(0 < int(retry_after) <= 60 for status, _, retry_after in burst if status == 429)

    # 24 right passwords from one client: the advertised 10/min, whichever worker answers.
    throttled = [_attempt(url, "10.0.0.1", "alice", PASSWORD) for _ in range(24)]
    passed = sum(status == 200 for status, _ in throttled)
    # 10 wrong passwords for bob from another client: locked out at the fifth failure.
    guesses = [_attempt(url, "10.0.0.2", "bob", "guess") for _ in range(10)]
    # The account stays locked from a third address; alice, from a fourth, is not locked.
    bob_elsewhere = _attempt(url, "10.0.0.3", "bob", PASSWORD)
    alice_elsewhere = _attempt(url, "10.0.0.4", "alice", PASSWORD)

    workers = Counter(line.split()[0] for line in access_log.read_text().splitlines() if "/auth/login/" in line)
    record("12.2", f"sign-ins passed, limit 10/min, {WORKERS} gunicorn workers, {kind} cache", f"{passed} of 24")
    record("12.2", f"login requests answered per worker ({kind})", ", ".join(map(str, sorted(workers.values()))))
    assert len(workers) >= 2, f"one worker answered every sign-in: {workers}"
    assert passed == 10
    assert Counter(code for status, code in throttled if status == 429) == {"throttled": 14}
    assert [status for status, _ in guesses] == [400] * 4 + [429] * 6
    assert {code for _, code in guesses[4:]} == {"account_locked"}
    assert bob_elsewhere == (429, "account_locked")
    assert alice_elsewhere[0] == 200
