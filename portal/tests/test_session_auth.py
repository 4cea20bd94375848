import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    return APIClient(enforce_csrf_checks=True)


def _login(client, username="alice", password="correct horse battery"):
    token = client.get("/api/v1/auth/csrf/").json()["csrfToken"]
    return client.post(
        "/api/v1/auth/login/", {"username": username, "password": password}, format="json", HTTP_X_CSRFTOKEN=token
    )


def test_a_clinician_signs_in_sees_who_they_are_and_signs_out(browser, alice, clinic_a):
    response = _login(browser)
    assert response.status_code == 200
    assert response.json()["clinic"] == {"id": clinic_a.pk, "name": "Clinic A"}
    assert browser.get("/api/v1/auth/me/").json()["username"] == "alice"
    token = browser.cookies["csrftoken"].value
    assert browser.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert browser.get("/api/v1/auth/me/").status_code == 401


def test_a_session_write_without_the_csrf_token_is_refused(browser, alice):
    assert _login(browser).status_code == 200
    response = browser.post("/api/v1/patients/", {"mrn": "1", "name": "N"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    token = browser.cookies["csrftoken"].value
    ok = browser.post("/api/v1/patients/", {"mrn": "1", "name": "N"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 201


def test_a_wrong_password_gets_a_clear_error(browser, alice):
    response = _login(browser, password="nope")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_repeated_failures_lock_the_account_even_for_the_right_password(browser, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert _login(browser, password="nope").status_code == 400
    assert _login(browser, password="nope").status_code == 429
    locked = _login(browser)
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"


def test_a_session_cookie_replayed_after_logout_is_refused(alice):
    first = APIClient()
    assert _login(first).status_code == 200
    stolen = first.cookies["sessionid"].value
    first.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=first.cookies["csrftoken"].value)
    replay = APIClient()
    replay.cookies["sessionid"] = stolen
    assert replay.get("/api/v1/auth/me/").status_code == 401


def test_an_idle_session_expires(browser, alice, settings, monkeypatch):
    import time

    assert _login(browser).status_code == 200
    assert browser.get("/api/v1/auth/me/").status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + settings.NAEVUS_IDLE_TIMEOUT_SECONDS + 60)
    assert browser.get("/api/v1/auth/me/").status_code == 401


def test_signing_in_without_the_csrf_token_is_refused(browser, alice):
    response = browser.post(
        "/api/v1/auth/login/", {"username": "alice", "password": "correct horse battery"}, format="json"
    )
    assert response.status_code == 403
