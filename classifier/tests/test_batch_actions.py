"""Cancel and retry on a batch, through the API, without a worker: what each leaves queued."""

import pytest

from classifier.models import BatchJob, Prediction
from portal.tests.factories import LesionImageFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(alice, clinic_a):
    version = ModelVersionFactory()
    batch = BatchJob.objects.create(clinic=clinic_a, created_by=alice, model_version=version, total=4)
    for status in ("done", "failed", "queued", "queued"):
        image = LesionImageFactory(lesion__patient__clinic=clinic_a)
        Prediction.objects.create(
            image=image, model_version=version, image_sha256=image.sha256, batch=batch, status=status, attempts=1
        )
    return batch


def _statuses(batch):
    return sorted(Prediction.objects.filter(batch=batch).values_list("status", flat=True))


def test_cancel_stops_the_queued_images_and_leaves_the_rest(as_user, alice, batch):
    body = as_user(alice).post(f"/api/v1/batches/{batch.pk}/cancel/").json()
    assert body["status"] == "cancelled" and body["cancelled"] == 2 and body["queued"] == 0
    assert _statuses(batch) == ["cancelled", "cancelled", "done", "failed"]


def test_retry_after_a_cancel_requeues_the_failed_images_only(as_user, alice, batch):
    api = as_user(alice)
    api.post(f"/api/v1/batches/{batch.pk}/cancel/")
    body = api.post(f"/api/v1/batches/{batch.pk}/retry/").json()
    assert body["queued"] == 1 and body["cancelled"] == 2 and body["status"] == "running"
    assert _statuses(batch) == ["cancelled", "cancelled", "done", "queued"]
    assert Prediction.objects.get(batch=batch, status="queued").attempts == 0
