"""Webhooks for clinic IT (issue #14 item 7), through the real path: the event's cause (an upload, a
review signed through the API, a batch) → a delivery row → the real Celery worker (Redis, PostgreSQL) →
a real HTTP receiver on 127.0.0.1, which checks the signature with its own HMAC code."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from classifier.models import Prediction
from classifier.tests.conftest import wait_for
from classifier.tests.test_worker_integration import lesion_jpeg, make_zip
from portal.core.exceptions import ApplicationError
from portal.tests.factories import LesionFactory, PatientFactory
from webhooks import signing
from webhooks.models import Delivery, Endpoint, Event
from webhooks.services import backoff_seconds, deliveries_sweep, endpoint_url_check


def _receiver_verifies(secret: str, received) -> dict:
    """What a receiver does with the documented scheme (docs/webhooks.md), written independently of
    webhooks.signing: HMAC-SHA256 over "<t>.<body>", a fresh timestamp."""
    parts = dict(p.split("=", 1) for p in received.headers["Naevus-Signature"].split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, parts["v1"]), "signature does not verify"
    assert abs(time.time() - int(parts["t"])) < 60
    body = json.loads(received.body)
    assert received.headers["Naevus-Event"] == body["event"]
    assert received.headers["Naevus-Delivery"] == body["id"]
    return body


# --- signing and URL rules (no worker) ---------------------------------------------------------------


def test_a_signature_verifies_only_the_body_and_secret_it_was_made_with_and_only_while_fresh():
    body = b'{"event":"batch.done"}'
    header = signing.signature("s3cret", body, 1_700_000_000)
    assert signing.verify("s3cret", header, body, now=1_700_000_100)
    assert not signing.verify("s3cret", header, body + b" ", now=1_700_000_100)
    assert not signing.verify("other", header, body, now=1_700_000_100)
    assert not signing.verify("s3cret", header, body, now=1_700_000_000 + signing.TOLERANCE_SECONDS + 1)
    assert not signing.verify("s3cret", "t=x,v1=y", body)
    assert not signing.verify("s3cret", "", body)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "ftp://93.184.216.34/hook",
        "https:///hook",
    ],
)
def test_by_default_a_webhook_may_not_point_inside_the_servers_network_or_off_https(settings, url):
    settings.NAEVUS_WEBHOOK_ALLOW_HTTP = False
    settings.NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ApplicationError):
        endpoint_url_check(url)


def test_a_public_https_address_is_accepted_and_private_ones_only_when_allowed(settings):
    settings.NAEVUS_WEBHOOK_ALLOW_HTTP = False
    settings.NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    endpoint_url_check("https://93.184.216.34/hook")  # an address literal: no DNS needed here
    settings.NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    endpoint_url_check("https://10.1.2.3/hook")
    with pytest.raises(ApplicationError):
        endpoint_url_check("http://10.1.2.3/hook")


def test_the_backoff_doubles_and_is_capped(settings):
    settings.NAEVUS_WEBHOOK_BACKOFF_SECONDS = 30
    settings.NAEVUS_WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]


def _endpoint(clinic, receiver, *events: Event) -> Endpoint:
    return Endpoint.objects.create(clinic=clinic, url=receiver.url, events=[e.value for e in events])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_refer_result_is_posted_signed_to_its_clinics_receiver_only(
    as_user, alice, clinic_a, clinic_b, tiny_model, worker, receiver
):
    receiver.start()
    tiny_model.threshold = 0.0  # every result is "refer" (probability >= threshold)
    tiny_model.save(update_fields=["threshold"])
    mine = _endpoint(clinic_a, receiver, Event.PREDICTION_REFER)
    # Clinic B's endpoint listens to everything on the same receiver: nothing of clinic A may reach it.
    theirs = _endpoint(clinic_b, receiver, *Event)
    patient = PatientFactory(clinic=clinic_a, name="Ada Lovelace")
    lesion = LesionFactory(patient=patient)
    api = as_user(alice)
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("a.jpg", lesion_jpeg(3), "image/jpeg")]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    delivered = wait_for(
        lambda: Delivery.objects.filter(endpoint=mine, status=Delivery.Status.DELIVERED).first(),
        timeout=120,
        message="the refer event delivered",
    )
    assert len(receiver.received) == 1
    body = _receiver_verifies(mine.secret, receiver.received[0])
    prediction = Prediction.objects.get(image__lesion=lesion)
    assert body["event"] == "prediction.refer" and body["clinic_id"] == clinic_a.pk
    assert body["data"]["prediction_id"] == prediction.pk and body["data"]["patient_id"] == patient.pk
    assert body["data"]["risk_category"] == "refer"
    assert body["data"]["melanoma_probability"] == pytest.approx(prediction.melanoma_probability)
    assert body["data"]["model_version"]["sha256"] == tiny_model.sha256
    assert "Ada" not in receiver.received[0].body.decode()
    assert delivered.attempts == 1 and delivered.response_status == 200
    assert not Delivery.objects.filter(endpoint=theirs).exists()
    with pytest.raises(AssertionError):  # signed with another clinic's secret, it would not verify
        _receiver_verifies(theirs.secret, receiver.received[0])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_routine_result_sends_no_refer_event(as_user, alice, clinic_a, tiny_model, worker, receiver):
    receiver.start()
    tiny_model.threshold = 1.0  # nothing reaches it: every result is routine
    tiny_model.save(update_fields=["threshold"])
    _endpoint(clinic_a, receiver, Event.PREDICTION_REFER)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    api = as_user(alice)
    api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("a.jpg", lesion_jpeg(4), "image/jpeg")]},
        format="multipart",
    )
    wait_for(
        lambda: Prediction.objects.filter(image__lesion=lesion, status="done").exists(), timeout=120, message="done"
    )
    time.sleep(1)
    assert Prediction.objects.get(image__lesion=lesion).risk_category == "routine"
    assert not Delivery.objects.exists() and receiver.received == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_is_down_then_failing_gets_the_batch_event_once_it_recovers(
    as_user, alice, clinic_a, tiny_model, worker, receiver
):
    """Down (connection refused) for the first attempts, then answering 503 once, then 200: the worker
    retries with backoff and the receiver gets the event; one delivery, its attempts and outcome kept."""
    endpoint = _endpoint(clinic_a, receiver, Event.BATCH_DONE)
    api = as_user(alice)
    response = api.post("/api/v1/batches/", {"archive": SimpleUploadedFile("b.zip", make_zip(3))}, format="multipart")
    assert response.status_code in (201, 202), response.content
    batch_id = response.json()["id"]
    failing = wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, attempts__gte=2, status=Delivery.Status.PENDING).first(),
        timeout=120,
        message="two refused attempts",
    )
    assert failing.status == Delivery.Status.PENDING and failing.error and failing.response_status is None
    receiver.script = [503]
    receiver.start()
    delivered = wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.DELIVERED).first(),
        timeout=60,
        message="delivered after the receiver came back",
    )
    assert delivered.attempts >= 3 and delivered.response_status == 200  # 2+ refused, the 503, the 200
    bodies = [_receiver_verifies(endpoint.secret, r) for r in receiver.received]
    assert len(bodies) == 2 and bodies[0]["id"] == bodies[1]["id"]  # the 503, then the same delivery again
    data = bodies[-1]["data"]
    assert data["batch_id"] == batch_id and data["status"] == "done" and data["total"] == 3
    assert data["predictions"] == {"done": 3}
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_never_answers_2xx_is_given_up_after_the_last_attempt(clinic_a, tiny_model, worker, receiver):
    from webhooks.services import event_emit

    receiver.script = [500] * 10
    receiver.start()
    endpoint = _endpoint(clinic_a, receiver, Event.BATCH_DONE)
    event_emit(clinic_id=clinic_a.pk, event=Event.BATCH_DONE, data={"batch_id": 0})
    failed = wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.FAILED).first(),
        timeout=60,
        message="given up",
    )
    assert failed.attempts == 4 and failed.response_status == 500 and failed.error == "HTTP 500"
    time.sleep(1.5)
    assert len(receiver.received) == 4


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_signing_a_review_does_not_wait_for_the_receiver_and_the_event_follows(
    alice, clinic_a, tiny_model, worker, receiver
):
    """The receiver holds its answer; the clinician's sign request returns meanwhile."""
    from rest_framework.test import APIClient

    from triage.tests.test_reviews_api import _result

    receiver.hold = threading.Event()
    receiver.start()
    endpoint = _endpoint(clinic_a, receiver, Event.REVIEW_SIGNED)
    prediction = _result(clinic_a, tiny_model, probability=0.9)
    api = APIClient()
    api.force_login(alice)
    draft = api.post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "malignant", "management": "excise"}
    ).json()
    signed = api.post(f"/api/v1/reviews/{draft['id']}/sign/")
    assert signed.status_code == 200
    assert receiver.answered == []  # sent from the request, it would have returned after the receiver's answer
    wait_for(lambda: receiver.received, timeout=60, message="the receiver called")
    assert receiver.answered == []  # still holding: the request above did not wait for it
    receiver.hold.set()
    wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.DELIVERED).exists(),
        timeout=30,
        message="delivered",
    )
    body = _receiver_verifies(endpoint.secret, receiver.received[0])
    assert body["event"] == "review.signed"
    assert (body["data"]["review_id"], body["data"]["assessment"], body["data"]["management"]) == (
        draft["id"],
        "malignant",
        "excise",
    )
    assert body["data"]["agrees_with_model"] is True and body["data"]["reader_id"] == alice.pk


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_message_was_lost_is_sent_by_the_sweeper(clinic_a, tiny_model, worker, receiver, settings):
    receiver.start()
    endpoint = _endpoint(clinic_a, receiver, Event.BATCH_DONE)
    # As a Redis flush leaves it: the row, no message.
    lost = Delivery.objects.create(
        endpoint=endpoint,
        event=Event.BATCH_DONE,
        payload={"id": "lost-1", "event": "batch.done", "data": {}},
        next_attempt_at=timezone.now() - timedelta(minutes=5),
    )
    time.sleep(1)
    assert receiver.received == []
    assert deliveries_sweep() == 1
    wait_for(lambda: Delivery.objects.get(pk=lost.pk).status == "delivered", timeout=60, message="swept delivery")
    assert len(receiver.received) == 1
    assert deliveries_sweep() == 0


@pytest.mark.django_db
def test_a_clinic_admin_registers_an_endpoint_for_their_clinic_and_sees_its_deliveries(
    clinic_admin, clinic_a, settings
):
    from django.contrib.auth import get_user_model

    settings.NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    client, dora = clinic_admin, get_user_model().objects.get(username="dora")
    add = "/admin/webhooks/endpoint/add/"
    refused = client.post(add, {"url": "https://169.254.169.254/latest", "events": ["batch.done"], "is_active": "on"})
    assert refused.status_code == 200 and "non-public address" in refused.content.decode()
    assert not Endpoint.objects.exists()
    created = client.post(add, {"url": "https://93.184.216.34/hook", "events": ["batch.done"], "is_active": "on"})
    assert created.status_code == 302, created.content.decode()[:2000]
    endpoint = Endpoint.objects.get()
    assert endpoint.clinic == clinic_a and endpoint.events == ["batch.done"] and endpoint.created_by == dora
    assert len(endpoint.secret) >= 40
    Delivery.objects.create(
        endpoint=endpoint,
        event="batch.done",
        payload={"id": "d-1"},
        status=Delivery.Status.FAILED,
        attempts=8,
        error="HTTP 500",
        next_attempt_at=timezone.now(),
    )
    page = client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret in page and "HTTP 500" in page
    listing = client.get("/admin/webhooks/delivery/").content.decode()
    assert "HTTP 500" in listing and "Failed (gave up)" in listing


def _resolver(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """`name` resolves to each of `answers` in turn (the last one from then on); every other name as before.
    A DNS server that changes its answer cannot run here: this replaces the process's one resolver
    (socket.getaddrinfo), which both the check and urllib3's connect call. Returns the answers given."""
    import socket

    real, given = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        given.append(answers[min(len(given), len(answers) - 1)])
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (given[-1], port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return given


@pytest.mark.django_db
def test_an_attempt_connects_to_the_address_it_checked_not_to_a_second_dns_answer(
    clinic_a, receiver, settings, monkeypatch
):
    """DNS rebinding: the name passes the check with a public address, then answers with the server's own
    loopback, where a service listens (the receiver here). The attempt must go to the checked address."""
    from webhooks.services import delivery_attempt, event_emit

    settings.NAEVUS_WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.NAEVUS_WEBHOOK_CONNECT_TIMEOUT = 0.5
    receiver.start()
    given = _resolver(monkeypatch, "hook.rebind.test", ["1.1.1.1", "127.0.0.1"])
    Endpoint.objects.create(
        clinic=clinic_a, url=f"http://hook.rebind.test:{receiver.port}/naevus-hook", events=[Event.BATCH_DONE.value]
    )
    [delivery_id] = event_emit(clinic_id=clinic_a.pk, event=Event.BATCH_DONE, data={"batch_id": 1})

    attempt = delivery_attempt(delivery_id)

    assert receiver.received == []
    assert given == ["1.1.1.1"]  # resolved once, by the check; the connection used that answer
    assert attempt.status == Delivery.Status.PENDING
    assert Delivery.objects.get(pk=delivery_id).error  # the public address did not answer here


@pytest.mark.django_db
def test_a_pinned_attempt_carries_the_names_host_header_to_the_checked_address(clinic_a, receiver, monkeypatch):
    from webhooks.services import delivery_attempt, event_emit

    receiver.start()  # private networks allowed (the module's settings): 127.0.0.1 passes the check
    _resolver(monkeypatch, "hook.pinned.test", ["127.0.0.1", "10.255.255.1"])
    Endpoint.objects.create(
        clinic=clinic_a, url=f"http://hook.pinned.test:{receiver.port}/naevus-hook", events=[Event.BATCH_DONE.value]
    )
    [delivery_id] = event_emit(clinic_id=clinic_a.pk, event=Event.BATCH_DONE, data={"batch_id": 1})

    attempt = delivery_attempt(delivery_id)

    assert attempt.status == Delivery.Status.DELIVERED
    [received] = receiver.received
    assert received.headers["Host"] == f"hook.pinned.test:{receiver.port}"
    assert received.path == "/naevus-hook"


@pytest.mark.django_db
def test_a_pinned_https_attempt_checks_the_certificate_against_the_name_not_the_address(
    clinic_a, monkeypatch, tmp_path
):
    """A TLS receiver on 127.0.0.1 whose certificate (from a throwaway CA, trustme) names only
    hook.tls.test: the pinned connection sends that name in SNI and verifies the certificate against it."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import trustme

    from webhooks.services import delivery_attempt, event_emit

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hook.tls.test").configure_cert(context)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))  # requests trusts the test CA
        _resolver(monkeypatch, "hook.tls.test", ["127.0.0.1"])
        port = server.server_address[1]
        Endpoint.objects.create(
            clinic=clinic_a, url=f"https://hook.tls.test:{port}/naevus-hook", events=[Event.BATCH_DONE.value]
        )
        [delivery_id] = event_emit(clinic_id=clinic_a.pk, event=Event.BATCH_DONE, data={"batch_id": 1})

        attempt = delivery_attempt(delivery_id)

        assert attempt.status == Delivery.Status.DELIVERED, Delivery.objects.get(pk=delivery_id).error
        assert server_names == ["hook.tls.test"]
        assert received == [f"hook.tls.test:{port}"]
    finally:
        server.shutdown()
        server.server_close()
