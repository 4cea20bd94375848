import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from portal.audit.models import AuditEvent
from portal.audit.services import audit_verify
from portal.tests.factories import LesionFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _rows(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_every_read_and_write_of_patient_data_adds_exactly_one_row(as_user, alice, clinic_a):
    api = as_user(alice)
    patient_id = api.post("/api/v1/patients/", {"mrn": "1", "name": "N", "sex": "male"}).json()["id"]
    api.get(f"/api/v1/patients/{patient_id}/")
    api.get(f"/api/v1/patients/{patient_id}/history/")
    api.patch(f"/api/v1/patients/{patient_id}/", {"notes": "x"}, format="json")
    api.get("/api/v1/patients/")
    rows = _rows(user_id=alice.pk)
    assert [(r.action, r.object_type) for r in rows] == [
        ("C", "patient"),
        ("R", "patient"),
        ("R", "patient_history"),
        ("U", "patient"),
        ("R", "patient_list"),
    ]
    assert all(r.outcome == "ok" and r.request_id and r.ip == "127.0.0.1" for r in rows)
    assert all(r.patient_id == patient_id for r in rows[:4])


def test_audit_rows_carry_ids_only_never_names(as_user, alice):
    api = as_user(alice)
    api.post("/api/v1/patients/", {"mrn": "MRN-SECRET", "name": "Zebediah Quux", "sex": "male"})
    api.get("/api/v1/patients/?search=Zebediah")
    for row in AuditEvent.objects.all():
        text = " ".join(str(getattr(row, f.name)) for f in AuditEvent._meta.fields)
        assert "Zebediah" not in text and "MRN-SECRET" not in text


def test_the_application_cannot_update_or_delete_audit_rows(as_user, alice, clinic_a):
    as_user(alice).get("/api/v1/patients/")
    row = AuditEvent.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(outcome="denied")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).delete()
    assert AuditEvent.objects.get().outcome == "ok"


def test_the_hash_chain_detects_a_tampered_row(as_user, alice, clinic_a, capsys):
    patient = PatientFactory(clinic=clinic_a)
    LesionFactory(patient=patient)
    api = as_user(alice)
    for _ in range(3):
        api.get(f"/api/v1/patients/{patient.pk}/")
    assert not audit_verify()
    call_command("audit", "verify")
    assert "intact" in capsys.readouterr().out

    victim = AuditEvent.objects.order_by("id")[1]
    # Someone with database superpowers bypasses the trigger; the chain still tells.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update")
        cursor.execute("UPDATE audit_auditevent SET user_id = 999 WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_update")
    assert audit_verify().rows == [victim.pk]
    with pytest.raises(SystemExit):
        call_command("audit", "verify")
