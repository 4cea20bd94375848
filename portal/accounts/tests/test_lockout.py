"""One lock-out for every way in (issue #12, item 1): the admin's login form and the API's share django-axes'
counters, per account and per client address, and every attempt leaves an audit row."""

import pytest
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from portal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def _admin_login(client, username="admin", password=PASSWORD):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def _api_login(client, username="alice", password=PASSWORD, **extra):
    return client.post("/api/v1/auth/login/", {"username": username, "password": password}, format="json", **extra)


def _signed_in_to_admin(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_eight_wrong_admin_passwords_lock_the_staff_account_so_the_ninth_right_one_is_refused(admin_user):
    client = Client()
    codes = [_admin_login(client, password=f"wrong-{i}").status_code for i in range(8)]
    # The fifth failure (the default limit) is itself answered with the lock-out.
    assert codes == [200, 200, 200, 200, 429, 429, 429, 429]
    locked = _admin_login(client)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert not _signed_in_to_admin(client)


def test_admin_failures_count_toward_the_api_lock_out_and_back(admin_user, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        assert _admin_login(Client(), username="alice", password="wrong").status_code == 200
    locked = _api_login(APIClient(), password="wrong")
    assert locked.status_code == 429
    assert locked.json()["code"] == "account_locked"
    assert int(locked["Retry-After"]) > 0
    # The right password, from the admin form this time, is refused too.
    assert _admin_login(Client(), username="alice").status_code == 429


def test_many_accounts_tried_from_one_address_lock_that_address_out(admin_user, alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for name in ("mallory", "trent", "peggy"):
        _api_login(APIClient(), username=name, password="guess")
    # Alice's account saw no failure, but the address did.
    assert _api_login(APIClient()).status_code == 429
    assert _api_login(APIClient(), username="alice", password=PASSWORD, REMOTE_ADDR="10.9.8.7").status_code == 200


def test_every_admin_sign_in_and_failure_is_audited_by_id_only(admin_user):
    client = Client()
    assert _admin_login(client, password="wrong").status_code == 200
    assert _admin_login(client).status_code == 302
    rows = [(r.object_type, r.outcome, r.user_id) for r in AuditEvent.objects.order_by("id")]
    assert rows == [("admin_login", "denied", None), ("admin_login", "ok", admin_user.pk)]


def test_api_sign_ins_failures_and_the_lock_out_are_audited(alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = APIClient()
    assert _api_login(client).status_code == 200
    _api_login(client, password="wrong")
    assert _api_login(client, password="wrong").status_code == 429
    rows = [(r.object_type, r.outcome, r.user_id) for r in AuditEvent.objects.order_by("id")]
    # django-axes announces the lock-out while handling the failure that caused it, so its row comes first.
    assert rows == [
        ("login", "ok", alice.pk),
        ("login", "denied", None),
        ("login_lockout", "denied", None),
        ("login", "denied", None),
    ]


def test_failed_sign_ins_for_unknown_usernames_leave_no_rows_outside_the_audit_trail(db):
    def rows_outside_audit():
        return sum(m.objects.count() for m in apps.get_models() if m._meta.app_label not in {"audit", "sessions"})

    before = rows_outside_audit()
    for i in range(40):
        _api_login(APIClient(), username=f"nobody-{i}", password="guess", REMOTE_ADDR=f"10.0.{i}.1")
    assert rows_outside_audit() == before
    assert AuditEvent.objects.filter(object_type="login", outcome="denied").count() == 40
