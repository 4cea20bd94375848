import pytest

from portal.records.models import Patient
from portal.tests.factories import LesionFactory, PatientFactory

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
