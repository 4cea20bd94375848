"""Who may see what. Generated from the URL conf: a new route with an id in its path and no entry
in OBJECT_KINDS fails here, so no patient-data route ships without its charlie-gets-404 test."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from classifier.models import BatchJob, ClinicOperatingPoint, Prediction
from portal.audit.models import AuditEvent
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db

PUBLIC = {"health", "schema", "schema-ui", "auth-csrf", "auth-login", "auth-logout"}
# Route kwargs that name patient data, and those that name shared, non-patient objects.
OBJECT_KINDS = {"patient_id", "lesion_id", "image_id", "prediction_id", "batch_id", "operating_point_id"}
SHARED_KINDS = {"model_version_id"}


def _api_routes():
    resolver = get_resolver()
    routes = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/v1/"):
                routes.append((p.name, prefix + str(p.pattern), p.callback))

    walk(resolver.url_patterns, "")
    return routes


def _methods(callback):
    view = callback.cls
    return [m for m in ("get", "post", "patch", "put", "delete") if hasattr(view, m)]


@pytest.fixture
def clinic_a_objects(clinic_a, alice):
    version = ModelVersionFactory()
    patient = PatientFactory(clinic=clinic_a)
    lesion = LesionFactory(patient=patient)
    image = LesionImageFactory(lesion=lesion)
    prediction = Prediction.objects.create(
        image=image, model_version=version, image_sha256=image.sha256, heatmap="heatmaps/x.png"
    )
    batch = BatchJob.objects.create(clinic=clinic_a, created_by=alice, model_version=version, total=1)
    operating_point = ClinicOperatingPoint.objects.create(
        clinic=clinic_a,
        model_version=version,
        calibration={"method": "platt", "a": 1.0, "b": 0.0},
        threshold=0.3,
        target_sensitivity=0.95,
        report={},
        reliability_plot="operating_points/x.png",
    )
    return {
        "patient_id": patient.pk,
        "lesion_id": lesion.pk,
        "image_id": image.pk,
        "prediction_id": prediction.pk,
        "batch_id": batch.pk,
        "operating_point_id": operating_point.pk,
        "model_version_id": version.pk,
        "name": "roc",
    }


def _fill(route: str, ids: dict) -> str:
    path = route
    for key, value in ids.items():
        for converter in ("int", "slug", "str"):
            path = path.replace(f"<{converter}:{key}>", str(value))
    return "/" + path


def test_every_route_with_an_id_is_classified():
    for name, route, _ in _api_routes():
        kinds = set(re.findall(r"<\w+:(\w+)>", route))
        unknown = kinds - OBJECT_KINDS - SHARED_KINDS - {"name"}
        assert not unknown, f"route {name} has ids {unknown}: classify them and add their 404 test"


def test_charlie_gets_404_on_every_verb_of_every_route_to_clinic_a_data(as_user, charlie, clinic_a_objects):
    api = as_user(charlie)
    checked = 0
    for name, route, callback in _api_routes():
        if not any(f":{kind}>" in route for kind in OBJECT_KINDS):
            continue
        path = _fill(route, clinic_a_objects)
        for method in _methods(callback):
            before = AuditEvent.objects.filter(user_id=charlie.pk, outcome="denied").count()
            response = getattr(api, method)(path, {}, format="json") if method != "get" else api.get(path)
            assert response.status_code == 404, f"{method.upper()} {path} ({name}) → {response.status_code}"
            after = AuditEvent.objects.filter(user_id=charlie.pk, outcome="denied").count()
            assert after == before + 1, f"{method.upper()} {path} left no denied audit row"
            checked += 1
    assert checked >= 15


def test_lists_and_searches_never_contain_another_clinics_patients(as_user, charlie, clinic_a_objects):
    api = as_user(charlie)
    assert api.get("/api/v1/patients/").json()["count"] == 0
    assert api.get("/api/v1/patients/?search=MRN").json()["count"] == 0
    assert api.get("/api/v1/batches/").json()["count"] == 0
    assert api.get("/api/v1/operating-points/").json() == []


def test_alice_and_bob_share_their_clinics_records(as_user, bob, clinic_a_objects):
    api = as_user(bob)
    assert api.get(f"/api/v1/patients/{clinic_a_objects['patient_id']}/history/").status_code == 200
    assert api.get("/api/v1/patients/").json()["count"] == 1


def test_no_route_but_health_login_and_schema_answers_without_credentials(api, clinic_a_objects):
    for name, route, callback in _api_routes():
        if name in PUBLIC:
            continue
        path = _fill(route, clinic_a_objects)
        for method in _methods(callback):
            response = getattr(api, method)(path)
            assert response.status_code == 401, f"{method.upper()} {path} ({name}) → {response.status_code}"


def test_public_routes_answer_without_credentials(api, db):
    assert api.get("/api/v1/schema/").status_code == 200
    assert api.get("/api/v1/auth/csrf/").status_code == 200
    assert api.get("/api/v1/health/").status_code in (200, 503)


def test_a_user_without_a_clinic_sees_nothing(as_user, db, clinic_a_objects):
    from django.contrib.auth import get_user_model

    loner = get_user_model().objects.create_user("loner", password="correct horse battery")
    assert as_user(loner).get("/api/v1/patients/").status_code == 403


def test_only_superusers_activate_model_versions(as_user, alice, admin_user, clinic_a_objects):
    path = f"/api/v1/models/{clinic_a_objects['model_version_id']}/activate/"
    assert as_user(alice).post(path).status_code == 403
    assert as_user(admin_user).post(path).status_code == 200
