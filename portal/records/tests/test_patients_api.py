import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Prediction
from portal.records.models import Patient
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_a_clinician_creates_a_patient_in_their_own_clinic(as_user, alice, clinic_a):
    api = as_user(alice)
    response = api.post(
        "/api/v1/patients/", {"mrn": "A-1", "name": "Ada Lovelace", "sex": "female", "birth_year": 1980}
    )
    assert response.status_code == 201, response.json()
    patient = Patient.objects.get(pk=response.json()["id"])
    assert patient.clinic == clinic_a
    assert response.json()["age"] > 40


def test_a_duplicate_mrn_in_the_same_clinic_is_refused_naming_the_field(as_user, alice, clinic_a):
    PatientFactory(clinic=clinic_a, mrn="A-1")
    response = as_user(alice).post("/api/v1/patients/", {"mrn": "A-1", "name": "X", "sex": "male"})
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_mrn"
    assert "mrn" in response.json()["fields"]


def test_the_same_mrn_may_exist_in_two_clinics(as_user, alice, clinic_b):
    PatientFactory(clinic=clinic_b, mrn="A-1")
    assert as_user(alice).post("/api/v1/patients/", {"mrn": "A-1", "name": "X", "sex": "male"}).status_code == 201


def test_a_future_birth_year_is_refused(as_user, alice):
    response = as_user(alice).post("/api/v1/patients/", {"mrn": "Z", "name": "X", "sex": "male", "birth_year": 3000})
    assert response.status_code == 400
    assert "birth_year" in response.json()["fields"]


def test_the_list_searches_mrn_and_name_and_paginates(as_user, alice, clinic_a):
    for i in range(30):
        PatientFactory(clinic=clinic_a, mrn=f"M{i:03d}", name=f"Person {i}")
    PatientFactory(clinic=clinic_a, mrn="Q-77", name="Grace Hopper")
    api = as_user(alice)
    page = api.get("/api/v1/patients/?page_size=10").json()
    assert page["count"] == 31 and len(page["results"]) == 10 and page["next"]
    assert [p["mrn"] for p in api.get("/api/v1/patients/?search=hopper").json()["results"]] == ["Q-77"]
    assert [p["name"] for p in api.get("/api/v1/patients/?search=q-77").json()["results"]] == ["Grace Hopper"]


def test_the_list_shows_the_highest_current_risk(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    patient = PatientFactory(clinic=clinic_a)
    for probability in (0.2, 0.9, None):
        image = LesionImageFactory(lesion=LesionFactory(patient=patient))
        Prediction.objects.create(
            image=image,
            model_version=version,
            image_sha256=image.sha256,
            status="done" if probability is not None else "queued",
            melanoma_probability=probability,
            risk_category="refer" if probability and probability > 0.3 else "routine",
        )
    row = as_user(alice).get("/api/v1/patients/").json()["results"][0]
    assert row["highest_risk"]["probability"] == pytest.approx(0.9)
    assert row["highest_risk"]["risk_category"] == "refer"
    assert row["lesion_count"] == 3


def test_list_detail_history_and_update_agree_on_lesion_count_and_highest_risk(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    patient = PatientFactory(clinic=clinic_a)
    image = LesionImageFactory(lesion=LesionFactory(patient=patient))
    Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status="done",
        melanoma_probability=0.79,
        risk_category="refer",
    )
    api = as_user(alice)
    summaries = {
        "list": api.get("/api/v1/patients/").json()["results"][0],
        "detail": api.get(f"/api/v1/patients/{patient.pk}/").json(),
        "history": api.get(f"/api/v1/patients/{patient.pk}/history/").json()["patient"],
        "update": api.patch(f"/api/v1/patients/{patient.pk}/", {"notes": "seen"}, format="json").json(),
    }
    expected = {"probability": pytest.approx(0.79), "risk_category": "refer", "model_version_id": version.pk}
    for screen, body in summaries.items():
        assert (body["lesion_count"], body["highest_risk"]) == (1, expected), screen


def test_a_patient_can_be_updated(as_user, alice, clinic_a):
    patient = PatientFactory(clinic=clinic_a, notes="")
    response = as_user(alice).patch(f"/api/v1/patients/{patient.pk}/", {"notes": "family history"}, format="json")
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.notes == "family history"


def test_lesions_are_created_with_an_isic_anatomic_site(as_user, alice, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    api = as_user(alice)
    ok = api.post(f"/api/v1/patients/{patient.pk}/lesions/", {"anatomic_site": "torso", "label": "left scapula"})
    assert ok.status_code == 201
    bad = api.post(f"/api/v1/patients/{patient.pk}/lesions/", {"anatomic_site": "elbow"})
    assert bad.status_code == 400 and "anatomic_site" in bad.json()["fields"]
    assert [lesion["label"] for lesion in api.get(f"/api/v1/patients/{patient.pk}/lesions/").json()] == ["left scapula"]


def test_an_outcome_is_recorded_on_a_lesion(as_user, alice, clinic_a):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    response = as_user(alice).post(
        f"/api/v1/lesions/{lesion.pk}/outcomes/",
        {"diagnosis": "melanoma", "benign_malignant": "malignant", "date": "2026-01-05"},
    )
    assert response.status_code == 201, response.json()
    assert lesion.outcomes.get().diagnosis == "melanoma"


def _history_queries(api, patient_id):
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(f"/api/v1/patients/{patient_id}/history/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


def test_case_history_is_newest_first_and_costs_the_same_queries_whatever_its_size(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    api = as_user(alice)
    small = PatientFactory(clinic=clinic_a)
    image = LesionImageFactory(lesion=LesionFactory(patient=small))
    Prediction.objects.create(image=image, model_version=version, image_sha256="x")
    big = PatientFactory(clinic=clinic_a)
    for _ in range(4):
        lesion = LesionFactory(patient=big)
        for _ in range(3):
            image = LesionImageFactory(lesion=lesion)
            Prediction.objects.create(image=image, model_version=version, image_sha256="x")
        lesion.outcomes.create(diagnosis="nevus", benign_malignant="benign", date="2026-01-01")

    _history_queries(api, small.pk)  # warm: session, audit chain head
    small_count, _ = _history_queries(api, small.pk)
    big_count, body = _history_queries(api, big.pk)
    assert small_count == big_count
    lesion_ids = [lesion["id"] for lesion in body["lesions"]]
    assert lesion_ids == sorted(lesion_ids, reverse=True)
    first = body["lesions"][0]
    assert len(first["images"]) == 3 and first["images"][0]["predictions"][0]["status"] == "queued"
    assert first["images"][0]["predictions"][0]["model_version"]["is_demo"] is True
    assert first["outcomes"][0]["diagnosis"] == "nevus"
