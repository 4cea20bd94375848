"""Firebase sign-in (`Authorization: Bearer <ID token>`), against the real Firebase Auth emulator.

Under the emulator, firebase-admin checks only a token's audience, issuer and subject: the emulator's tokens
are unsigned (`alg: none`) and their `exp` is not checked. Signatures and expiry are therefore tested on the
production path, with our own RSA key standing in for Google's (see google_keys.py).
"""

import base64
import json
import os
import socket
import subprocess
import sys
import uuid

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from portal.accounts.models import Invitation, Membership
from portal.accounts.services import clinician_create
from portal.records.models import Patient
from portal.tests.factories import PatientFactory

from .emulator import PROJECT_ID, TOOLS_DIR

ME = "/api/v1/auth/me/"
PATIENTS = "/api/v1/patients/"

pytestmark = pytest.mark.django_db


def _email() -> str:
    return f"clinician-{uuid.uuid4().hex[:12]}@example.org"


def _member(emulator, clinic, *, username: str):
    account = emulator.sign_up(_email())
    clinician_create(clinic=clinic, username=username, password=None, email=account.email, firebase_uid=account.uid)
    return account


def _new_patient(client, mrn="MRN-FB-1"):
    return client.post(PATIENTS, {"mrn": mrn, "name": "Ada Example"}, format="json")


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# The emulator, as on a developer's machine.


@pytest.mark.integration
def test_a_members_token_signs_them_in_to_their_clinic(emulated, bearer, clinic_a):
    account = _member(emulated, clinic_a, username="dana")

    response = bearer(account.id_token).get(ME)

    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "dana"
    assert response.json()["clinic"] == {"id": clinic_a.pk, "name": "Clinic A"}


@pytest.mark.integration
def test_a_member_signed_in_by_token_lists_only_their_clinics_patients(emulated, bearer, clinic_a, clinic_b):
    account = _member(emulated, clinic_a, username="dana")
    PatientFactory(clinic=clinic_a, mrn="A-1")
    PatientFactory(clinic=clinic_a, mrn="A-2")
    PatientFactory(clinic=clinic_b, mrn="B-1")

    response = bearer(account.id_token).get(PATIENTS)

    assert response.status_code == 200
    assert sorted(p["mrn"] for p in response.json()["results"]) == ["A-1", "A-2"]


@pytest.mark.integration
def test_a_signed_in_stranger_without_an_invitation_is_not_invited(emulated, bearer, clinic_a):
    account = emulated.sign_up(_email())
    emulated.verify_email(account.uid)

    response = bearer(emulated.sign_in(account)).get(ME)

    assert response.status_code == 403
    assert response.json()["code"] == "not_invited"
    assert not Membership.objects.filter(firebase_uid=account.uid).exists()


@pytest.mark.integration
def test_an_invited_verified_address_joins_the_inviting_clinic_on_first_request(emulated, bearer, clinic_a, clinic_b):
    email = _email()
    invitation = Invitation.objects.create(clinic=clinic_b, email=email.upper(), role="clinic_admin")
    account = emulated.sign_up(email)
    emulated.verify_email(account.uid)
    client = bearer(emulated.sign_in(account))

    first = client.get(ME)
    second = client.get(ME)

    assert first.status_code == 200, first.json()
    assert first.json()["clinic"] == {"id": clinic_b.pk, "name": "Clinic B"}
    assert first.json()["role"] == "clinic_admin"
    assert second.json()["id"] == first.json()["id"]
    membership = Membership.objects.get(firebase_uid=account.uid)
    assert (membership.clinic, membership.user.email) == (clinic_b, email)
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None


@pytest.mark.integration
def test_an_invited_address_must_be_verified_before_it_joins(emulated, bearer, clinic_a):
    email = _email()
    invitation = Invitation.objects.create(clinic=clinic_a, email=email)
    account = emulated.sign_up(email)

    response = bearer(account.id_token).get(ME)

    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    assert not Membership.objects.filter(firebase_uid=account.uid).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


@pytest.mark.integration
def test_a_token_issued_before_a_revocation_cannot_write_but_can_still_read(emulated, bearer, clinic_a):
    account = _member(emulated, clinic_a, username="dana")
    emulated.revoke_tokens(account.uid)
    client = bearer(account.id_token)

    write = _new_patient(client)
    read = client.get(ME)

    assert write.status_code == 401
    assert write.json()["code"] == "token_revoked"
    assert not Patient.objects.exists()
    # Reads skip the round trip to Firebase: a revoked token reads until it expires (at most an hour).
    assert read.status_code == 200


@pytest.mark.integration
def test_a_token_issued_after_a_revocation_can_write(emulated, bearer, clinic_a):
    account = _member(emulated, clinic_a, username="dana")
    emulated.revoke_tokens(account.uid)

    response = _new_patient(bearer(emulated.sign_in(account)))

    assert response.status_code == 201, response.json()
    assert Patient.objects.get().clinic == clinic_a


@pytest.mark.integration
def test_a_disabled_firebase_account_cannot_write(emulated, bearer, clinic_a):
    account = _member(emulated, clinic_a, username="dana")
    emulated.disable(account.uid)

    response = _new_patient(bearer(account.id_token))

    assert response.status_code == 401
    assert response.json()["code"] == "user_disabled"
    assert not Patient.objects.exists()


@pytest.mark.integration
def test_a_deleted_firebase_account_cannot_write(emulated, bearer, clinic_a):
    """Deleting the account ends its sessions as a revocation does, so the answer is the same 401."""
    account = _member(emulated, clinic_a, username="dana")
    emulated.delete(account.uid)

    response = _new_patient(bearer(account.id_token))

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert not Patient.objects.exists()


@pytest.mark.integration
def test_an_unverified_stranger_is_asked_to_verify_before_learning_whether_they_were_invited(emulated, bearer):
    """Anyone can sign up to Firebase with someone else's address; until it is verified, the answer must not
    depend on whether that address was invited (compare the invited-but-unverified test above)."""
    account = emulated.sign_up(_email())

    response = bearer(account.id_token).get(ME)

    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"


@pytest.mark.integration
def test_a_deleted_account_that_never_joined_a_clinic_is_not_invited(emulated, bearer, clinic_a):
    """Reads are not checked with Firebase, so its token still parses: it is nobody we know (403, not 401)."""
    account = emulated.sign_up(_email())
    emulated.verify_email(account.uid)
    token = emulated.sign_in(account)
    emulated.delete(account.uid)

    response = bearer(token).get(ME)

    assert response.status_code == 403
    assert response.json()["code"] == "not_invited"


@pytest.mark.integration
def test_a_write_while_firebase_cannot_be_reached_is_a_503_not_a_500(emulated, bearer, clinic_a, monkeypatch):
    account = _member(emulated, clinic_a, username="dana")
    closed = _closed_port()
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", f"127.0.0.1:{closed}")

    response = _new_patient(bearer(account.id_token))

    assert response.status_code == 503
    assert response.json()["code"] == "auth_unavailable"
    assert not Patient.objects.exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_bearer_writes_need_no_csrf_token_while_session_writes_do(emulated, clinic_a, alice):
    account = _member(emulated, clinic_a, username="dana")
    client = APIClient(enforce_csrf_checks=True)

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {account.id_token}")
    by_token = _new_patient(client, mrn="MRN-TOKEN")
    client.credentials()
    client.force_login(alice)
    by_session = _new_patient(client, mrn="MRN-SESSION")

    assert by_token.status_code == 201, by_token.json()
    assert by_session.status_code == 403
    assert "CSRF" in by_session.json()["message"]
    assert list(Patient.objects.values_list("mrn", flat=True)) == ["MRN-TOKEN"]


@pytest.mark.integration
def test_an_unsigned_emulator_token_is_invalid_without_the_emulator(auth_emulator, google_keys, bearer, clinic_a):
    account = _member(auth_emulator, clinic_a, username="dana")

    response = bearer(account.id_token).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


# The emulator must never be honoured with DEBUG off.


def test_the_portal_refuses_the_emulator_when_debug_is_off(settings, monkeypatch, bearer, clinic_a):
    settings.DEBUG = False
    settings.FIREBASE_PROJECT_ID = PROJECT_ID
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'x', 'aud': PROJECT_ID})}."

    with pytest.raises(ImproperlyConfigured, match="DEBUG is off"):
        bearer(unsigned).get(ME)


@pytest.mark.parametrize(("debug", "refused"), [("0", True), ("1", False)])
def test_settings_refuse_to_load_with_the_emulator_when_debug_is_off(debug, refused):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.local",
        "DJANGO_DEBUG": debug,
        "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=TOOLS_DIR.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode != 0) is refused, result.stderr[-2000:]
    assert ("FIREBASE_AUTH_EMULATOR_HOST is set while DEBUG is off" in result.stderr) is refused


# Production verification: RS256 signatures against Google's keys (ours, served in place of Google's).


def test_a_correctly_signed_token_of_a_member_signs_them_in(google_keys, bearer, clinic_a):
    clinician_create(clinic=clinic_a, username="dana", password=None, firebase_uid="uid-dana")

    response = bearer(google_keys.id_token(project_id=PROJECT_ID, uid="uid-dana")).get(ME)

    assert response.status_code == 200, response.json()
    assert response.json()["username"] == "dana"


def test_an_expired_token_is_refused_as_expired(google_keys, bearer, clinic_a):
    """Production path only: under the emulator firebase-admin does not check `exp` at all."""
    clinician_create(clinic=clinic_a, username="dana", password=None, firebase_uid="uid-dana")
    token = google_keys.id_token(project_id=PROJECT_ID, uid="uid-dana", issued_ago_s=3700, lifetime_s=3600)

    response = bearer(token).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response["WWW-Authenticate"] == 'Bearer realm="naevus"'


def test_a_token_whose_payload_was_changed_is_invalid(google_keys, bearer, clinic_a, clinic_b):
    clinician_create(clinic=clinic_a, username="dana", password=None, firebase_uid="uid-dana")
    clinician_create(clinic=clinic_b, username="eve", password=None, firebase_uid="uid-eve")
    eves_token = google_keys.id_token(project_id=PROJECT_ID, uid="uid-eve")
    header, _, signature = eves_token.split(".")
    claims = _claims(eves_token) | {"sub": "uid-dana", "user_id": "uid-dana"}

    response = bearer(f"{header}.{_b64(claims)}.{signature}").get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    ("aud", "iss"),
    [
        ("other-project", "https://securetoken.google.com/other-project"),
        ("other-project", f"https://securetoken.google.com/{PROJECT_ID}"),
        (PROJECT_ID, "https://securetoken.google.com/other-project"),
    ],
    ids=["both", "audience", "issuer"],
)
def test_a_token_issued_for_another_firebase_project_is_invalid(google_keys, bearer, clinic_a, aud, iss):
    clinician_create(clinic=clinic_a, username="dana", password=None, firebase_uid="uid-dana")
    token = google_keys.id_token(project_id=PROJECT_ID, uid="uid-dana", aud=aud, iss=iss)

    response = bearer(token).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", _b64({"alg": "RS256"}) + ".e30.c2ln"],
    ids=["one-part", "not-base64-json", "no-key-id"],
)
def test_a_malformed_token_is_invalid_rather_than_a_server_error(google_keys, bearer, token):
    response = bearer(token).get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_an_outage_of_googles_key_server_is_a_503_not_a_500(google_keys, bearer, clinic_a, monkeypatch):
    """Patches the network (requests' transport adapter): Google's key server can't be reached from here, and a
    test must not depend on it anyway. Everything above the socket is firebase-admin's and google-auth's own."""
    clinician_create(clinic=clinic_a, username="dana", password=None, firebase_uid="uid-dana")

    def unreachable(adapter, request, *args, **kwargs):
        raise requests.ConnectionError("simulated: www.googleapis.com unreachable")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", unreachable)

    response = bearer(google_keys.id_token(project_id=PROJECT_ID, uid="uid-dana")).get(ME)

    assert response.status_code == 503
    assert response.json()["code"] == "auth_keys_unavailable"
