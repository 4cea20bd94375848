"""Issue #12, item 4: reading patient data in the Django admin is audited like an API read, and a clinic
admin's list filters offer only their own clinic's values."""

import datetime

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.records.models import Outcome
from portal.tests.factories import LesionFactory, LesionImageFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _rows():
    return [(r.action, r.object_type, r.object_id, r.patient_id, r.outcome) for r in AuditEvent.objects.order_by("id")]


def test_opening_searching_and_reading_the_history_of_a_patient_in_the_admin_is_audited(clinic_admin, clinic_a):
    patient = PatientFactory(clinic=clinic_a, name="Zebediah Quux", mrn="MRN-SECRET")
    assert clinic_admin.get("/admin/records/patient/").status_code == 200
    assert clinic_admin.get("/admin/records/patient/?q=Zebediah").status_code == 200
    assert clinic_admin.get(f"/admin/records/patient/{patient.pk}/change/").status_code == 200
    assert clinic_admin.get(f"/admin/records/patient/{patient.pk}/history/").status_code == 200
    pk = str(patient.pk)
    assert _rows() == [
        ("R", "admin_patient_list", "", None, "ok"),
        ("R", "admin_patient_search", "", None, "ok"),
        ("R", "admin_patient", pk, patient.pk, "ok"),
        ("R", "admin_patient_history", pk, patient.pk, "ok"),
    ]
    for row in AuditEvent.objects.all():
        text = " ".join(str(getattr(row, f.name)) for f in AuditEvent._meta.fields)
        assert "Zebediah" not in text and "MRN-SECRET" not in text


def test_opening_an_outcome_or_an_image_in_the_admin_is_audited_against_its_patient(admin_user, clinic_a):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    outcome = Outcome.objects.create(
        lesion=lesion, diagnosis="melanoma", benign_malignant="malignant", date=datetime.date(2026, 1, 2)
    )
    image = LesionImageFactory(lesion=lesion, clinic=clinic_a)
    client = Client()
    client.force_login(admin_user)
    assert client.get(f"/admin/records/outcome/{outcome.pk}/change/").status_code == 200
    assert client.get(f"/admin/records/lesionimage/{image.pk}/change/").status_code == 200
    assert _rows() == [
        ("R", "admin_outcome", str(outcome.pk), lesion.patient_id, "ok"),
        ("R", "admin_lesionimage", str(image.pk), lesion.patient_id, "ok"),
    ]


def test_a_clinic_admin_opening_another_clinics_patient_is_audited_as_denied_without_its_patient_id(
    clinic_admin, clinic_b
):
    other = PatientFactory(clinic=clinic_b)
    clinic_admin.get(f"/admin/records/patient/{other.pk}/change/")
    clinic_admin.get(f"/admin/records/patient/{other.pk}/history/")
    assert _rows() == [
        ("R", "admin_patient", str(other.pk), None, "denied"),
        ("R", "admin_patient_history", str(other.pk), None, "denied"),
    ]


@pytest.mark.parametrize("path", ["/admin/records/patient/", "/admin/records/lesionimage/"])
def test_a_clinic_admin_sees_only_their_own_clinic_in_the_list_filters(clinic_admin, clinic_a, clinic_b, path):
    for clinic in (clinic_a, clinic_b):
        LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=clinic)), clinic=clinic)
    page = clinic_admin.get(path).content.decode()
    assert "Clinic A" in page
    assert "Clinic B" not in page
