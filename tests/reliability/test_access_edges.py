"""Access (issue #6, items 21, 23, 24, 25): what portal/tests/test_access.py, test_session_auth.py and
portal/accounts/tests/test_firebase.py leave open — media files outside the API, CORS, throttling
with Retry-After, and the Django admin as a clinic admin sees it."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from portal.records.models import Lesion, LesionImage
from portal.tests.factories import LesionFactory, ModelVersionFactory, PatientFactory, jpeg_bytes

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]


@pytest.fixture
def stored_image(as_user, alice, clinic_a):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    response = as_user(alice).post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("a.jpg", jpeg_bytes(), "image/jpeg")]},
        format="multipart",
    )
    assert response.status_code == 202
    return LesionImage.objects.get()


def test_stored_images_are_reachable_only_through_the_api(as_user, alice, charlie, stored_image):
    """Item 21: no /media/ route serves the file, to anyone; only the clinic-checked API does."""
    path = f"/media/{stored_image.file.name}"
    data = stored_image.file.open("rb").read()
    for client in (APIClient(), as_user(charlie), as_user(alice)):
        response = client.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert data not in body
        # Either nothing is there, or the SPA's shell page (the catch-all route) — never the file.
        assert response.status_code in (404, 401) or response["Content-Type"].startswith("text/html")
    assert as_user(charlie).get(f"/api/v1/images/{stored_image.pk}/file/").status_code == 404


@pytest.mark.parametrize(("origin", "allowed"), [("https://spa.example.org", True), ("https://evil.example", False)])
def test_cors_answers_only_the_configured_spa_origin_and_never_a_wildcard(db, settings, origin, allowed):
    """Item 23."""
    settings.CORS_ALLOWED_ORIGINS = ["https://spa.example.org"]
    client = APIClient()
    preflight = client.options(
        "/api/v1/patients/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-csrftoken",
    )
    simple = client.get("/api/v1/auth/csrf/", HTTP_ORIGIN=origin)
    for response in (preflight, simple):
        granted = response.headers.get("Access-Control-Allow-Origin")
        assert granted != "*"
        if allowed:
            assert granted == origin and response.headers["Access-Control-Allow-Credentials"] == "true"
        else:
            assert granted is None


@pytest.fixture
def strict_throttles(monkeypatch):
    """DRF reads the rates once, at import: set them on the class (the test settings raise them)."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/min", "upload": "2/min"})
    cache.clear()
    yield
    cache.clear()


def test_sign_ins_beyond_the_rate_get_429_with_retry_after(strict_throttles, alice):
    """Item 24."""
    client = APIClient()
    codes = [
        client.post("/api/v1/auth/login/", {"username": "alice", "password": "wrong"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 400]
    throttled = client.post("/api/v1/auth/login/", {"username": "alice", "password": "correct horse battery"})
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60


def test_uploads_beyond_the_rate_get_429_with_retry_after(strict_throttles, as_user, alice, clinic_a):
    """Item 24."""
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    api = as_user(alice)

    def upload():
        return api.post(
            f"/api/v1/lesions/{lesion.pk}/images/",
            {"files": [SimpleUploadedFile("a.jpg", jpeg_bytes(), "image/jpeg")]},
            format="multipart",
        )

    assert [upload().status_code, upload().status_code] == [202, 202]
    throttled = upload()
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert LesionImage.objects.count() == 2


def test_a_locked_account_says_when_to_retry(alice, settings):
    """Item 24: the lock-out (test_session_auth) answers 429 with Retry-After too."""
    settings.AXES_FAILURE_LIMIT = 2
    client = APIClient()
    for _ in range(2):
        client.post("/api/v1/auth/login/", {"username": "alice", "password": "wrong"}, format="json")
    locked = client.post("/api/v1/auth/login/", {"username": "alice", "password": "correct horse battery"})
    assert locked.status_code == 429 and locked.json()["code"] == "account_locked"
    assert 0 < int(locked["Retry-After"]) <= settings.AXES_COOLOFF_TIME.total_seconds()


# --- the Django admin -------------------------------------------------------------------------


@pytest.fixture
def two_clinics(clinic_a, clinic_b):
    return PatientFactory(clinic=clinic_a, mrn="A-OWN-1"), PatientFactory(clinic=clinic_b, mrn="B-OTHER-1")


def test_a_clinic_admin_lists_and_opens_only_their_clinics_patients(clinic_admin, two_clinics):
    """Item 25."""
    own, other = two_clinics
    listing = clinic_admin.get("/admin/records/patient/")
    assert listing.status_code == 200
    assert b"A-OWN-1" in listing.content and b"B-OTHER-1" not in listing.content
    assert clinic_admin.get(f"/admin/records/patient/{own.pk}/change/").status_code == 200
    foreign = clinic_admin.get(f"/admin/records/patient/{other.pk}/change/")
    assert foreign.status_code == 302 and b"B-OTHER-1" not in foreign.content


def test_a_clinic_admin_cannot_change_another_clinics_patient(clinic_admin, two_clinics):
    """Item 25."""
    _, other = two_clinics
    form = {
        "mrn": "B-OTHER-1",
        "name": "Renamed",
        "sex": "female",
        "birth_year": "1970",
        "clinic": str(other.clinic_id),
        "lesions-TOTAL_FORMS": "0",
        "lesions-INITIAL_FORMS": "0",
    }
    clinic_admin.post(f"/admin/records/patient/{other.pk}/change/", form)
    other.refresh_from_db()
    assert other.name != "Renamed"


def test_a_clinic_admin_cannot_attach_a_lesion_to_another_clinics_patient(clinic_admin, two_clinics):
    """Item 25: a raw-id field takes any id typed into it."""
    _, other = two_clinics
    clinic_admin.post("/admin/records/lesion/add/", {"patient": str(other.pk), "anatomic_site": "torso", "label": "x"})
    assert not Lesion.objects.filter(patient=other).exists()


@pytest.mark.parametrize(
    "path", ["/admin/classifier/modelversion/", "/admin/auth/user/", "/admin/accounts/membership/"]
)
def test_only_superusers_manage_model_versions_and_users(clinic_admin, admin_user, path):
    """Item 25."""
    ModelVersionFactory()
    assert clinic_admin.get(path).status_code == 403
    superuser = Client()
    superuser.force_login(admin_user)
    assert superuser.get(path).status_code == 200


def test_a_clinic_admin_cannot_activate_a_model_version(clinic_admin):
    """Item 25: the admin action is out of reach, not just hidden."""
    old, new = ModelVersionFactory(), ModelVersionFactory(is_active=False)
    response = clinic_admin.post(
        "/admin/classifier/modelversion/", {"action": "activate", "_selected_action": [str(new.pk)]}
    )
    assert response.status_code == 403
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.is_active and not new.is_active
