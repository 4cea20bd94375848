"""A lesion visit as the product makes one: a real dermoscopy image (samples/isic: HAM10000, Tschandl et
al., Sci. Data 2018, CC BY-NC 4.0; attribution in samples/isic/README.md) uploaded through the API, analysed
by the worker's own task run in-process (Celery's `apply`) with a tiny random-init 4-class model (real
inference, real CAM heatmap), then read and signed by clinicians through the API."""

from pathlib import Path

import pytest

from classifier.models import ModelVersion, Prediction

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "isic" / "ISIC_0024647.jpg"


@pytest.fixture
def model_version(db, tmp_path) -> ModelVersion:
    from classifier.inference.testing import make_tiny_artifact
    from classifier.services import model_version_register

    path = tmp_path / "tiny4.naevus.pt"
    sha256, meta = make_tiny_artifact(path, img_size=64, num_classes=4, seed=3)
    return model_version_register(artifact_path=str(path), sha256=sha256, meta=meta, activate=True)


@pytest.fixture
def analysed(client_for, alice, clinic_a, model_version):
    """Uploads the sample to a new lesion of a new patient and analyses it; returns the done Prediction."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.tasks import predict

    def make(*, lesion_id: int | None = None, sample: Path = SAMPLE, analyse: bool = True) -> Prediction:
        api = client_for(alice)
        if lesion_id is None:
            patient = api.post(
                "/api/v1/patients/",
                {"mrn": "RPT-0001", "name": "Ada Lovelace-Byron", "birth_year": 1961},
                format="json",
            )
            assert patient.status_code == 201, patient.content
            lesion = api.post(
                f"/api/v1/patients/{patient.json()['id']}/lesions/",
                {"anatomic_site": "upper extremity", "label": "left shoulder, 2 cm mole"},
                format="json",
            )
            assert lesion.status_code == 201, lesion.content
            lesion_id = lesion.json()["id"]
        upload = SimpleUploadedFile(sample.name, sample.read_bytes(), content_type="image/jpeg")
        images = api.post(f"/api/v1/lesions/{lesion_id}/images/", {"files": [upload]}, format="multipart")
        assert images.status_code == 202, images.content
        prediction = Prediction.objects.get(image_id=images.json()["images"][0]["id"])
        if analyse:
            predict.apply(args=[[prediction.pk]])
            prediction.refresh_from_db()
            assert prediction.status == Prediction.Status.DONE, prediction.error
        return prediction

    return make
