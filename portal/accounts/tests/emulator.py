"""A real Firebase Auth emulator (firebase-tools, pinned in tools/firebase) and the REST calls tests need.

The emulator is a Node program; no Java is needed for `--only auth`.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

TOOLS_DIR = Path(__file__).resolve().parents[3] / "tools" / "firebase"
PROJECT_ID = "demo-naevus"
# The emulator accepts any API key; the value only has to be present.
_API_KEY = "fake-api-key"
# The emulator's admin bypass: "Bearer owner" is allowed to edit any account.
_OWNER = {"Authorization": "Bearer owner"}
# A cold start costs ~10 s of CPU; on a loaded CI box it has taken 45 s.
_START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_installed() -> Path:
    binary = TOOLS_DIR / "node_modules" / ".bin" / "firebase"
    if not binary.exists():
        subprocess.run(["npm", "ci", "--prefix", str(TOOLS_DIR), "--no-audit", "--no-fund"], check=True, timeout=900)
    return binary


@dataclass
class SignedUp:
    uid: str
    email: str
    password: str
    id_token: str


class AuthEmulator:
    """Owns one emulator process (its own process group) on free ports in `workdir`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.host = ""
        self._proc: subprocess.Popen | None = None
        self._log = workdir / "emulator.log"

    def start(self) -> None:
        binary = _ensure_installed()
        config = json.loads((TOOLS_DIR / "firebase.json").read_text())
        # Free ports for every listener, so a developer's own emulator (9099/4400/4500) or a parallel run
        # cannot collide with this one.
        for name in ("auth", "hub", "logging"):
            config["emulators"][name] = {"host": "127.0.0.1", "port": _free_port()}
        self.host = f"127.0.0.1:{config['emulators']['auth']['port']}"
        (self.workdir / "firebase.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            # The hub writes its locator file to the temp dir; keep it out of the shared /tmp.
            "TMPDIR": str(self.workdir),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "NO_UPDATE_NOTIFIER": "1",
        }
        env.pop("FIREBASE_AUTH_EMULATOR_HOST", None)
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    str(binary),
                    "emulators:start",
                    "--only",
                    "auth",
                    "--project",
                    PROJECT_ID,
                    "--config",
                    str(self.workdir / "firebase.json"),
                ],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the Auth emulator exited with {self._proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException, ValueError):
                if requests.get(f"http://{self.host}/", timeout=1).json()["authEmulator"]["ready"]:
                    return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the Auth emulator was not ready after {_START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self._log.read_text(errors="replace")[-3000:] if self._log.exists() else ""

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        # firebase-tools forks; signalling the group reaches the Node children too.
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=5)

    # REST helpers: the same endpoints the Firebase web SDK and Admin SDK call.

    def _post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        response = requests.post(
            f"http://{self.host}/identitytoolkit.googleapis.com/v1/{path}?key={_API_KEY}",
            json=body,
            headers=headers,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def sign_up(self, email: str, password: str = "correct horse battery") -> SignedUp:
        data = self._post("accounts:signUp", {"email": email, "password": password, "returnSecureToken": True})
        return SignedUp(uid=data["localId"], email=email, password=password, id_token=data["idToken"])

    def sign_in(self, account: SignedUp) -> str:
        """A fresh ID token: claims such as email_verified are frozen into a token when it is issued."""
        data = self._post(
            "accounts:signInWithPassword",
            {"email": account.email, "password": account.password, "returnSecureToken": True},
        )
        return data["idToken"]

    def _update(self, uid: str, **fields) -> None:
        self._post(f"projects/{PROJECT_ID}/accounts:update", {"localId": uid, **fields}, headers=_OWNER)

    def verify_email(self, uid: str) -> None:
        self._update(uid, emailVerified=True)

    def disable(self, uid: str) -> None:
        self._update(uid, disableUser=True)

    def revoke_tokens(self, uid: str) -> None:
        """What `auth.revoke_refresh_tokens` does: tokens issued before `validSince` (whole seconds) are revoked.

        Waits for the next second first, so that a token issued just now is strictly older.
        """
        time.sleep(1.05 - (time.time() % 1))
        self._update(uid, validSince=str(int(time.time())))

    def delete(self, uid: str) -> None:
        self._post(f"projects/{PROJECT_ID}/accounts:delete", {"localId": uid}, headers=_OWNER)


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None
