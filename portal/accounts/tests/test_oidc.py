"""OpenID Connect sign-in (issue #17, item 1) against a real provider: django-oidc-provider in its own process
(tests/oidc_provider/), driven through its sign-in and consent pages; the portal side is the real callback,
which exchanges the code (with the PKCE verifier) and fetches the JWKS and userinfo over HTTP."""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from django.contrib.auth import get_user
from django.http import HttpRequest
from django.test import Client

from portal.accounts import oidc
from portal.accounts.models import Invitation, Membership
from portal.audit.models import AuditEvent, Outcome
from portal.urls import spa_config

from .oidc_provider import CLIENT_ID, CLIENT_SECRET, POST_LOGOUT_URI, Browser, Provider, local_path, query

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def provider(tmp_path_factory):
    p = Provider(tmp_path_factory.mktemp("oidc-provider"))
    p.start()
    yield p
    p.stop()


@pytest.fixture
def configured(settings, provider):
    """The portal configured from the provider's discovery document, as docs/deploy.md says."""
    d = provider.discovery()
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = d["issuer"]
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = d["authorization_endpoint"]
    settings.OIDC_OP_TOKEN_ENDPOINT = d["token_endpoint"]
    settings.OIDC_OP_USER_ENDPOINT = d["userinfo_endpoint"]
    settings.OIDC_OP_JWKS_ENDPOINT = d["jwks_uri"]
    settings.OIDC_OP_LOGOUT_ENDPOINT = d["end_session_endpoint"]
    return provider


@pytest.fixture
def invite(clinic_a):
    def make(email, role="clinician"):
        return Invitation.objects.create(clinic=clinic_a, email=email, role=role)

    return make


def sign_in(client: Client, username: str, *, browser: Browser | None = None, next_path="/patients", **extra):
    """The whole code flow: the portal's start → the provider (sign-in, consent) → the portal's callback.
    Returns the callback's response, the authorization request's parameters and the callback URL."""
    start = client.get(f"/oidc/authenticate/?next={next_path}")
    assert start.status_code == 302
    authorization = query(start["Location"])
    callback_url = (browser or Browser()).authorize(start["Location"], username)
    return client.get(local_path(callback_url), **extra), authorization, callback_url


def me(client):
    return client.get("/api/v1/auth/me/")


def test_an_invited_user_signs_in_through_the_provider_and_gets_the_inviting_clinic(configured, invite, clinic_a):
    invitation = invite("dana@clinic-a.test")
    client = Client()

    response, authorization, callback_url = sign_in(client, "dana")

    assert authorization["code_challenge_method"] == "S256" and len(authorization["code_challenge"]) == 43
    assert authorization["client_id"] == CLIENT_ID and authorization["nonce"]
    assert response.status_code == 302 and response["Location"] == "/patients"
    profile = me(client).json()
    assert profile["clinic"] == {"id": clinic_a.pk, "name": "Clinic A"}
    assert profile["email"] == "dana@clinic-a.test" and profile["role"] == "clinician"
    membership = Membership.objects.get(user_id=profile["id"])
    assert membership.oidc_subject and membership.firebase_uid is None
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert AuditEvent.objects.filter(object_type="oidc_login", outcome=Outcome.OK, user_id=profile["id"]).count() == 1

    # A second sign-in is matched by the provider's subject: the same user, no second membership.
    again = Client()
    response, _, _ = sign_in(again, "dana")
    assert response.status_code == 302 and me(again).json()["id"] == profile["id"]
    assert Membership.objects.count() == 1


def test_an_uninvited_user_is_refused_with_a_reason_and_nothing_is_created(configured, invite, alice):
    invite("dana@clinic-a.test")
    users, memberships = alice.__class__.objects.count(), Membership.objects.count()
    client = Client()

    response, _, _ = sign_in(client, "erin")

    assert response.status_code == 302 and response["Location"] == "/sign-in?reason=not_invited"
    assert me(client).status_code in (401, 403)
    assert (alice.__class__.objects.count(), Membership.objects.count()) == (users, memberships)
    assert AuditEvent.objects.filter(object_type="oidc_login", outcome=Outcome.DENIED).count() == 1


def test_an_invited_address_the_provider_has_not_verified_is_refused(configured, invite):
    invitation = invite("frank@clinic-a.test")
    client = Client()

    response, _, _ = sign_in(client, "frank")

    assert response["Location"] == "/sign-in?reason=email_not_verified"
    assert not Membership.objects.exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_the_role_follows_the_configured_claim_at_every_sign_in_but_never_grants_a_clinic(
    configured, settings, invite, clinic_a
):
    settings.OIDC_ROLE_CLAIM = "groups"
    mapping = {"naevus-admins": "clinic_admin", "naevus-clinicians": "clinician"}
    settings.OIDC_ROLE_MAP = mapping
    invite("dana@clinic-a.test", role="clinician")
    client = Client()

    sign_in(client, "dana")
    # Both of her groups map: the higher role wins.
    assert me(client).json()["role"] == "clinic_admin"

    # None of her groups maps any more (here: the mapping changed): the next sign-in makes her a clinician.
    settings.OIDC_ROLE_MAP = {"naevus-auditors": "clinic_admin"}
    again = Client()
    sign_in(again, "dana")
    assert me(again).json()["role"] == "clinician"

    # erin's groups map to a role too, but she is in no clinic: the claim changes nothing about that.
    settings.OIDC_ROLE_MAP = mapping
    response, _, _ = sign_in(Client(), "erin")
    assert response["Location"] == "/sign-in?reason=not_invited"
    assert Membership.objects.count() == 1


@pytest.fixture
def real_id_token(configured, invite):
    """An ID token the provider really issued to the portal in a full sign-in (kept in the session for the
    RP-initiated logout), and the nonce it carries."""
    invite("dana@clinic-a.test")
    client = Client()
    response, authorization, _ = sign_in(client, "dana")
    assert response.status_code == 302
    token = client.session["oidc_id_token"]
    return token, authorization["nonce"]


def _verify(token, nonce):
    return oidc.OidcBackend().verify_token(token, nonce=nonce)


def _resign(provider, token, **changes):
    """The provider's claims with `changes`, signed with the provider's own key under its own kid: only the
    changed claims can make the portal refuse it. The provider will not issue these itself (it has no switch
    for another audience or a past expiry), so they are made here and fed to the portal's verification."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False}) | changes
    return jwt.encode(claims, provider.signing_key_pem(), algorithm="RS256", headers={"kid": header["kid"]})


def test_the_real_id_token_and_a_faithful_re_signing_of_it_both_pass_verification(real_id_token, configured):
    """The control for the three refusals below: re-signing as such changes nothing."""
    token, nonce = real_id_token
    assert _verify(token, nonce)["aud"] == CLIENT_ID
    subject = jwt.decode(token, options={"verify_signature": False})["sub"]
    assert _verify(_resign(configured, token), nonce)["sub"] == subject


def test_an_id_token_for_another_client_is_refused(real_id_token, configured):
    token, nonce = real_id_token
    with pytest.raises(oidc.Refused) as refusal:
        _verify(_resign(configured, token, aud="another-app"), nonce)
    assert refusal.value.reason == oidc.FAILED
    # Several audiences that include ours, but issued to (azp) another client: refused as well.
    with pytest.raises(oidc.Refused):
        _verify(_resign(configured, token, aud=[CLIENT_ID, "another-app"], azp="another-app"), nonce)


def test_an_expired_id_token_is_refused(real_id_token, configured, settings):
    token, nonce = real_id_token
    past = int(time.time()) - settings.OIDC_CLOCK_SKEW_SECONDS - 5
    with pytest.raises(oidc.Refused) as refusal:
        _verify(_resign(configured, token, iat=past - 600, exp=past), nonce)
    assert refusal.value.reason == oidc.TOKEN_EXPIRED


def test_an_id_token_whose_claims_were_altered_after_signing_is_refused(real_id_token):
    token, nonce = real_id_token
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"sub": "someone-else"}
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    with pytest.raises(oidc.Refused) as refusal:
        _verify(f"{header}.{forged_payload}.{signature}", nonce)
    assert refusal.value.reason == oidc.FAILED


def test_an_id_token_from_another_issuer_or_for_another_sign_in_is_refused(real_id_token, configured):
    token, nonce = real_id_token
    with pytest.raises(oidc.Refused):
        _verify(_resign(configured, token, iss="https://elsewhere.test/openid"), nonce)
    with pytest.raises(oidc.Refused):
        _verify(token, "another-sign-ins-nonce")


def test_a_callback_this_browser_did_not_start_is_refused(configured, invite):
    """A code and state made for one browser, replayed in another (login CSRF): refused, nobody signed in."""
    invite("dana@clinic-a.test")
    victim, attacker = Client(), Client()
    start = attacker.get("/oidc/authenticate/")
    callback_url = Browser().authorize(start["Location"], "dana")

    # A browser that started no sign-in, and one that started its own (another state).
    assert victim.get(local_path(callback_url))["Location"] == "/sign-in?reason=oidc_failed"
    victim.get("/oidc/authenticate/")
    assert victim.get(local_path(callback_url))["Location"] == "/sign-in?reason=oidc_failed"
    assert me(victim).status_code in (401, 403)
    assert not Membership.objects.exists()


def test_refused_oidc_sign_ins_count_toward_the_address_lock_out_and_not_elsewhere(configured, settings, invite, alice):
    settings.AXES_FAILURE_LIMIT = 2
    invite("dana@clinic-a.test")

    first, _, _ = sign_in(Client(), "erin", REMOTE_ADDR="10.1.1.1")
    assert first.status_code == 302
    locked, _, _ = sign_in(Client(), "erin", REMOTE_ADDR="10.1.1.1")
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content

    # The invited user from the locked address is refused too, before any code is exchanged ...
    client = Client()
    response, _, _ = sign_in(client, "dana", REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 429 and me(client).status_code in (401, 403)
    assert not Membership.objects.filter(oidc_subject__isnull=False).exists()
    # ... and so is a password sign-in from there; another address is not locked by these failures.
    credentials = {"username": "alice", "password": "correct horse battery"}
    password = Client(REMOTE_ADDR="10.1.1.1").post("/api/v1/auth/login/", credentials, content_type="application/json")
    assert password.status_code == 429
    elsewhere = Client()
    response, _, _ = sign_in(elsewhere, "dana", REMOTE_ADDR="10.2.2.2")
    assert response.status_code == 302 and me(elsewhere).json()["clinic"] is not None


def test_sign_out_ends_the_providers_session_too_when_it_has_an_end_session_endpoint(configured, invite):
    invite("dana@clinic-a.test")
    client, browser = Client(), Browser()
    sign_in(client, "dana", browser=browser)

    response = client.post("/api/v1/auth/logout/")

    assert response.status_code == 200
    url = response.json()["redirect_url"]
    assert url.startswith(configured.discovery()["end_session_endpoint"] + "?")
    assert query(url)["post_logout_redirect_uri"] == POST_LOGOUT_URI
    assert me(client).status_code in (401, 403)
    back = browser.get(url)
    assert back.status_code == 302 and back.headers["Location"] == POST_LOGOUT_URI
    # The provider's own session has ended: the next authorization asks for the password again.
    start = Client().get("/oidc/authenticate/")
    assert "/accounts/login/" in browser.get(start["Location"]).headers["Location"]


def test_sign_out_is_local_when_the_provider_has_no_end_session_endpoint(configured, settings, invite):
    settings.OIDC_OP_LOGOUT_ENDPOINT = ""
    invite("dana@clinic-a.test")
    client = Client()
    sign_in(client, "dana")

    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert me(client).status_code in (401, 403)


def test_a_deactivated_member_loses_the_oidc_session(configured, invite):
    invite("dana@clinic-a.test")
    client = Client()
    sign_in(client, "dana")
    user = Membership.objects.get().user
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert me(client).status_code in (401, 403)
    # Not only the API (DRF checks is_active itself): the session no longer yields a user anywhere.
    request = HttpRequest()
    request.session = client.session
    assert not get_user(request).is_authenticated
    response, _, _ = sign_in(Client(), "dana")
    assert response["Location"] == "/sign-in?reason=account_disabled"


def test_no_token_or_code_reaches_the_logs(configured, invite, caplog):
    invite("dana@clinic-a.test")
    client = Client()
    with caplog.at_level(logging.DEBUG):
        sign_in(client, "erin")
        _, _, callback_url = sign_in(client, "dana")
    id_token = client.session["oidc_id_token"]
    logged = caplog.text
    assert "OIDC sign-in refused: not_invited" in logged
    for secret in (query(callback_url)["code"], id_token, id_token.split(".")[1], CLIENT_SECRET):
        assert secret not in logged
    assert "dana@clinic-a.test" not in logged and "erin@elsewhere.test" not in logged


def test_oidc_is_off_unless_configured(db):
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404
    assert spa_config()["oidc"] is None


def test_the_spa_is_told_where_sign_in_with_the_provider_starts(configured):
    assert spa_config()["oidc"] == {"providerName": "Test IdP", "loginUrl": "/oidc/authenticate/"}


def test_a_role_map_naming_an_unknown_role_stops_the_portal_at_start(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.OIDC_ROLE_MAP = {"naevus-admins": "superuser"}
    with pytest.raises(SystemCheckError, match="unknown roles: superuser"):
        call_command("check")


def test_settings_refuse_to_load_half_an_oidc_configuration():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.local", "OIDC_RP_CLIENT_ID": "naevus"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "OpenID Connect is half configured: OIDC_OP_ISSUER, OIDC_OP_AUTHORIZATION_ENDPOINT" in result.stderr
