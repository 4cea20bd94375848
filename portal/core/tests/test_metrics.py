"""GET /metrics: who may scrape it, what it never shows, and that the audit chain is verified once per window."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.audit.models import Action, AuditEvent
from portal.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def token(settings):
    settings.NAEVUS_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token=TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_without_a_configured_token_the_endpoint_does_not_exist(client, settings):
    settings.NAEVUS_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert scrape(client, "").status_code == 404
    assert scrape(client, "anything").status_code == 404


def test_it_refuses_a_missing_or_wrong_token_and_answers_the_right_one(client, token):
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.json()["code"] == "not_authenticated"
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert scrape(client, "wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 401
    ok = scrape(client)
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/plain")
    assert "naevus_predictions{" in ok.content.decode()


def test_request_counts_are_labelled_by_view_name_never_by_a_path_with_ids(as_user, alice, token, client):
    patient = PatientFactory(clinic=alice.membership.clinic, name="Zebulon Quarrington", mrn="MRN-775533")
    api = as_user(alice)
    assert api.get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    body = scrape(client).content.decode()
    assert 'naevus_http_request_duration_seconds_count{method="GET",status="200",view="patient-detail"}' in body
    for secret in ("Zebulon", "Quarrington", "MRN-775533", "alice", f"/patients/{patient.pk}"):
        assert secret not in body, f"{secret!r} in the metrics"


def _audit_reads(queries) -> int:
    return sum(1 for q in queries if 'FROM "audit_auditevent"' in q["sql"])


def test_the_audit_chain_is_verified_once_per_window_and_a_broken_row_shows(client, token, settings, alice):
    settings.NAEVUS_METRICS_AUDIT_VERIFY_SECONDS = 3600
    with CaptureQueriesContext(connection) as first:
        body = scrape(client).content.decode()
    assert "naevus_audit_chain_intact 1.0" in body
    assert _audit_reads(first.captured_queries) == 1
    with CaptureQueriesContext(connection) as second:
        assert "naevus_audit_chain_intact 1.0" in scrape(client).content.decode()
    assert _audit_reads(second.captured_queries) == 0, "the chain was verified again within its window"

    # A row written around the service, with a hash that does not chain: the next verification sees it.
    AuditEvent.objects.create(
        at=timezone.now(), user_id=alice.pk, action=Action.READ, object_type="patient", prev_hash="0" * 64,
        hash="f" * 64,
    )  # fmt: skip
    settings.NAEVUS_METRICS_AUDIT_VERIFY_SECONDS = 0
    body = scrape(client).content.decode()
    assert "naevus_audit_chain_intact 0.0" in body
    assert "naevus_audit_chain_broken_rows 1.0" in body
