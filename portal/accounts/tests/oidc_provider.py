"""A real OpenID Connect provider for the tests: the small Django project in tests/oidc_provider/ running
django-oidc-provider (RS256 key from its `creatersakey` command) as a subprocess on a free port, and a
browser-like walk through its sign-in and consent pages with requests."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from .emulator import _free_port

PROJECT_DIR = Path(__file__).resolve().parents[3] / "tests" / "oidc_provider"
CLIENT_ID = "naevus"
CLIENT_SECRET = "naevus-test-secret"
# What the portal's test client calls itself (Django's test server name).
RP = "http://testserver"
POST_LOGOUT_URI = f"{RP}/sign-in?reason=signed_out"
PASSWORD = "provider-pass-1234"
# dana and frank are invited in the tests, erin never is; frank's e-mail is unverified at the provider;
# the groups are the ID token's `groups` claim.
USERS = {
    "dana": {"email": "dana@clinic-a.test", "groups": ["naevus-admins", "naevus-clinicians"]},
    "erin": {"email": "erin@elsewhere.test", "groups": ["naevus-clinicians"]},
    "frank": {"email": "frank@clinic-a.test", "groups": ["unverified"]},
}
_START_TIMEOUT_S = 60


class _Inputs(HTMLParser):
    """A form's <input> fields, as a browser would submit them (name → value)."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") != "submit":
            self.fields[a["name"]] = a.get("value") or ""


def form_fields(html: str) -> dict[str, str]:
    parser = _Inputs()
    parser.feed(html)
    return parser.fields


class Provider:
    """`rp`: the portal's base URL its redirect URIs are registered for; `host`: where the provider serves (the
    browser test serves it at localhost beside a portal at 127.0.0.1: cookies are per host, not per port)."""

    def __init__(self, workdir: Path, *, rp: str = RP, host: str = "127.0.0.1"):
        self.workdir = workdir
        self.rp = rp
        self.port = _free_port()
        self.url = f"http://{host}:{self.port}"
        self.issuer = f"{self.url}/openid"
        self._env = {**os.environ, "PROVIDER_DATA_DIR": str(workdir), "PROVIDER_SITE_URL": self.url}
        self._env.pop("DJANGO_SETTINGS_MODULE", None)
        self._proc: subprocess.Popen | None = None
        self._log = workdir / "provider.log"

    def _manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT_DIR,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def start(self) -> None:
        spec = {
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{self.rp}/oidc/callback/"],
                "post_logout_redirect_uris": [f"{self.rp}/sign-in?reason=signed_out"],
            },
            "users": [{"username": name, "password": PASSWORD, **user} for name, user in USERS.items()],
        }
        (self.workdir / "spec.json").write_text(json.dumps(spec))
        self._manage("migrate", "-v", "0")
        assert "successfully created" in self._manage("creatersakey")
        self._manage("provision", str(self.workdir / "spec.json"))
        log = self._log.open("w")
        self._proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],  # localhost too
            cwd=PROJECT_DIR,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited:\n{self._log.read_text()}")
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the OIDC provider did not answer within {_START_TIMEOUT_S} s:\n{self._log.read_text()}")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=20)

    def discovery(self) -> dict:
        return requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=5).json()

    def signing_key_pem(self) -> str:
        """The provider's RSA private key, from its own database: to sign tokens the provider would not issue
        (another audience, an expired one) with the very key its JWKS publishes."""
        with sqlite3.connect(self.workdir / "provider.sqlite3") as db:
            (pem,) = db.execute("SELECT key FROM oidc_provider_rsakey").fetchone()
        return pem


class Browser:
    """One browser's cookie jar at the provider, walking its pages as a person would."""

    def __init__(self):
        self.session = requests.Session()

    def authorize(self, authorize_url: str, username: str, *, consent: bool = True) -> str:
        """From the portal's redirect to the provider, through sign-in and consent, to the URL the provider
        sends the browser back to (the portal's callback with code and state)."""
        response = self.session.get(authorize_url, allow_redirects=False, timeout=10)
        if response.status_code == 302 and "/accounts/login/" in response.headers["Location"]:
            login_url = urljoin(authorize_url, response.headers["Location"])
            page = self.session.get(login_url, timeout=10)
            fields = form_fields(page.text) | {"username": username, "password": PASSWORD}
            response = self.session.post(login_url, data=fields, allow_redirects=False, timeout=10)
            assert response.status_code == 302, f"provider sign-in failed for {username}"
            response = self.session.get(urljoin(login_url, response.headers["Location"]), timeout=10)
        assert response.status_code == 200 and "Request for Permission" in response.text, response.text[:300]
        fields = form_fields(response.text)
        if consent:
            fields["allow"] = "Authorize"
        answer = self.session.post(urljoin(authorize_url, "authorize"), data=fields, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text[:300]
        return answer.headers["Location"]

    def get(self, url: str) -> requests.Response:
        return self.session.get(url, allow_redirects=False, timeout=10)


def local_path(url: str) -> str:
    """The path and query of a URL on the portal (the test client's host)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == RP, url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
