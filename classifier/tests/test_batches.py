"""Batch bookkeeping: the records a mapped batch creates, when a batch is finished, its rate and ETA, and
the CSV it exports."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from classifier import batches
from classifier.inference.engine import Result
from classifier.models import BatchJob, Prediction
from classifier.selectors import batch_get
from classifier.services import prediction_store_result
from portal.audit.models import Action, AuditEvent
from portal.records.models import LesionImage, Patient
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

from .test_worker_integration import lesion_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def version():
    return ModelVersionFactory(threshold=0.5)


@pytest.fixture
def lesion(clinic_a):
    return LesionFactory(patient=PatientFactory(clinic=clinic_a))


MAPPING = b"file_name,mrn,patient_name,lesion_label,anatomic_site\na.jpg,NEW-1,New Patient,back,torso\n"
MAPPING += b"b.jpg,NEW-1,New Patient,back,torso\n"


def _mapped_batch(alice, clinic_a, *, create_missing: bool) -> BatchJob:
    ModelVersionFactory(is_active=True)
    total, members = batches.batch_members(files=[("a.jpg", lambda: lesion_jpeg(1)), ("b.jpg", lambda: lesion_jpeg(2))])
    return batches.batch_create(
        user=alice,
        clinic=clinic_a,
        members=members,
        total=total,
        mapping=batches.parse_mapping(MAPPING),
        create_missing=create_missing,
    )


def test_a_mapped_batch_creates_a_missing_patient_and_lesion_once_each_with_their_audit_rows(alice, clinic_a):
    _mapped_batch(alice, clinic_a, create_missing=True)
    patient = Patient.objects.get(clinic=clinic_a, mrn="NEW-1")
    lesion = patient.lesions.get()
    assert (patient.name, lesion.label, lesion.anatomic_site) == ("New Patient", "back", "torso")
    assert LesionImage.objects.filter(lesion=lesion).count() == 2
    assert patient.last_visit is not None
    created = AuditEvent.objects.filter(patient_id=patient.pk, action=Action.CREATE, user_id=alice.pk)
    assert sorted(created.values_list("object_type", "object_id")) == [
        ("lesion", str(lesion.pk)),
        ("patient", str(patient.pk)),
    ]


def test_without_create_missing_a_file_mapped_to_an_unknown_patient_is_rejected_and_nothing_is_created(alice, clinic_a):
    batch = _mapped_batch(alice, clinic_a, create_missing=False)
    assert not Patient.objects.filter(mrn="NEW-1").exists() and not LesionImage.objects.exists()
    assert sorted(batch.rejected_files.values_list("file_name", "reason")) == [
        ("a.jpg", "no patient with MRN 'NEW-1' in your clinic"),
        ("b.jpg", "no patient with MRN 'NEW-1' in your clinic"),
    ]


def _batch(alice, clinic_a, version, total: int) -> BatchJob:
    return BatchJob.objects.create(clinic=clinic_a, created_by=alice, model_version=version, total=total)


def _job(batch, lesion, status=Prediction.Status.RUNNING, name="a.jpg") -> Prediction:
    return Prediction.objects.create(
        image=LesionImageFactory(lesion=lesion, original_name=name),
        model_version=batch.model_version,
        batch=batch,
        status=status,
    )


def _finish(prediction: Prediction) -> None:
    prediction_store_result(prediction=prediction, result=Result(raw_score=0.0, probability=0.7))


def test_a_batch_finishes_only_when_every_file_has_arrived_and_been_analysed(alice, clinic_a, version, lesion):
    """A batch is committed in chunks while its archive is read: its first chunk can be analysed before
    the last file is in."""
    batch = _batch(alice, clinic_a, version, total=3)
    first, second = _job(batch, lesion), _job(batch, lesion)
    _finish(first)
    _finish(second)
    batch.refresh_from_db()
    assert batch.status == BatchJob.Status.RUNNING, "2 of 3 files analysed, the third not yet read"
    third = _job(batch, lesion)
    batch.refresh_from_db()
    assert batch.status == BatchJob.Status.RUNNING
    _finish(third)
    batch.refresh_from_db()
    assert batch.status == BatchJob.Status.DONE and batch.finished_at is not None


def test_the_eta_is_the_remaining_jobs_at_the_rate_seen_so_far(alice, clinic_a, version, lesion):
    batch = _batch(alice, clinic_a, version, total=30)
    for _ in range(10):
        _job(batch, lesion, status=Prediction.Status.DONE)
    for _ in range(5):
        _job(batch, lesion, status=Prediction.Status.RUNNING)
    for _ in range(15):
        _job(batch, lesion, status=Prediction.Status.QUEUED)
    BatchJob.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(seconds=60))
    progress = batch_get(user=alice, batch_id=batch.pk, audit=False)
    # 10 finished in 60 s is 10 a minute; 20 left take 120 s.
    assert progress.rate_per_min == pytest.approx(10, rel=0.02)
    assert progress.eta_seconds == pytest.approx(120, rel=0.02)


def test_a_finished_batch_has_no_eta(alice, clinic_a, version, lesion):
    batch = _batch(alice, clinic_a, version, total=1)
    _finish(_job(batch, lesion))
    assert batch_get(user=alice, batch_id=batch.pk, audit=False).eta_seconds is None


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_file_name_that_a_spreadsheet_would_run_as_a_formula_is_quoted_in_the_csv(
    alice, clinic_a, version, lesion, as_user, name
):
    batch = _batch(alice, clinic_a, version, total=2)
    _finish(_job(batch, lesion, name=name))
    _finish(_job(batch, lesion, name="plain.jpg"))
    response = as_user(alice).get(f"/api/v1/batches/{batch.pk}/results.csv")
    names = [row["file_name"] for row in csv.DictReader(io.StringIO(response.content.decode(), newline=""))]
    assert sorted(names) == sorted(["'" + name, "plain.jpg"])
