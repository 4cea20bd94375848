import json
from urllib.parse import urlsplit

import firebase_admin
import pytest
import requests

from portal.accounts import firebase

from .emulator import PROJECT_ID, AuthEmulator, node_available
from .google_keys import GoogleKeys


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory):
    """One real Firebase Auth emulator for the session. Fails (never skips) when Node is here but it won't start."""
    if not node_available():
        pytest.fail("Node.js and npm are needed for the Firebase Auth emulator (`make firebase-tools`)")
    emulator = AuthEmulator(tmp_path_factory.mktemp("firebase-emulator"))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _fresh_firebase_app():
    """portal.accounts.firebase caches one firebase-admin app; the project and emulator host differ per test."""
    _delete_app()
    yield
    _delete_app()


def _delete_app():
    try:
        firebase_admin.delete_app(firebase_admin.get_app(firebase._APP_NAME))
    except ValueError:
        pass


@pytest.fixture
def emulated(auth_emulator, settings, monkeypatch):
    """Settings of a developer machine signed in through the emulator (DEBUG on, as the portal requires)."""
    settings.DEBUG = True
    settings.FIREBASE_PROJECT_ID = PROJECT_ID
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator.host)
    return auth_emulator


@pytest.fixture(scope="session")
def _google_keys():
    # RSA key generation is the slow part; one key pair serves the session.
    return GoogleKeys()


@pytest.fixture
def production(settings, monkeypatch, tmp_path, _google_keys):
    """Production settings: DEBUG off, no emulator, a service-account file."""
    settings.DEBUG = False
    settings.FIREBASE_PROJECT_ID = PROJECT_ID
    credentials = tmp_path / "service-account.json"
    credentials.write_text(json.dumps(_google_keys.service_account(PROJECT_ID)))
    settings.FIREBASE_CREDENTIALS_FILE = str(credentials)
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)


@pytest.fixture
def google_keys(production, _google_keys, monkeypatch):
    """Google's certificate endpoint answers with our key's certificate; nothing else leaves the machine."""
    send_for_real = requests.adapters.HTTPAdapter.send

    def send(adapter, request, *args, **kwargs):
        if request.url.startswith("https://www.googleapis.com/robot/v1/metadata/x509/"):
            return _google_keys.certificate_response(request)
        if urlsplit(request.url).hostname == "127.0.0.1":
            return send_for_real(adapter, request, *args, **kwargs)
        raise requests.ConnectionError(f"unexpected request to {request.url} in a test")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return _google_keys


@pytest.fixture
def bearer(api):
    def with_token(token: str):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api

    return with_token
