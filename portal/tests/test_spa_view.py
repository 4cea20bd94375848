import json

import pytest


@pytest.fixture
def built_spa(settings, tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><html><head><title>Naevus</title></head><body></body></html>")
    settings.FRONTEND_DIST = tmp_path
    return tmp_path


def _config(html: str) -> dict:
    start = html.index("window.__NAEVUS_CONFIG__=") + len("window.__NAEVUS_CONFIG__=")
    return json.loads(html[start : html.index(";</script>", start)])


def test_every_client_route_gets_index_html_with_the_run_time_config(client, built_spa, settings):
    settings.NAEVUS_IDLE_TIMEOUT_SECONDS = 600
    for path in ("/", "/patients/12", "/batches"):
        response = client.get(path)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        assert _config(response.content.decode()) == {"firebase": None, "oidc": None, "idleTimeoutMinutes": 10}


def test_the_firebase_emulator_url_is_only_given_with_debug_on(client, built_spa, settings):
    settings.FIREBASE_PROJECT_ID = "demo-naevus"
    settings.FIREBASE_WEB_API_KEY = "fake-api-key"
    settings.FIREBASE_AUTH_EMULATOR_HOST = "127.0.0.1:9099"
    settings.DEBUG = False
    assert _config(client.get("/").content.decode())["firebase"]["emulatorUrl"] is None
    settings.DEBUG = True
    assert _config(client.get("/").content.decode())["firebase"]["emulatorUrl"] == "http://127.0.0.1:9099"


def test_api_paths_never_fall_back_to_the_spa(client, built_spa, db):
    assert client.get("/api/v1/nope/").status_code == 404
