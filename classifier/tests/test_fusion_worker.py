"""A version with a metadata fusion head, through the real path: upload → real Celery worker (Redis,
PostgreSQL) → stored prediction → API. The worker reads the patient's and lesion's fields itself."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.inference.artifact import load_artifact, save_artifact
from classifier.inference.fusion import FEATURES
from classifier.models import Prediction
from portal.tests.factories import LesionFactory, PatientFactory

from .conftest import wait_for
from .test_worker_integration import lesion_jpeg

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COEFFICIENTS = dict.fromkeys(FEATURES, 0.0) | {
    "image_logit": 1.0,
    "age": 1.2,
    "age_missing": -0.5,
    "male": 0.6,
    "female": -0.6,
    "site:palms/soles": 0.8,
}
HEAD = {
    "features": list(FEATURES),
    "age_center": 50.0,
    "age_scale": 20.0,
    "coefficients": [COEFFICIENTS[f] for f in FEATURES],
    "intercept": 0.1,
    "calibration": {"method": "platt", "a": 0.8, "b": -0.3},
    "threshold": 0.4,
    "metrics": {},
}


def fused(raw: float, *, age: float | None, sex: str | None, site: str | None) -> float:
    z = HEAD["intercept"] + raw + (1.2 * (age - 50) / 20 if age is not None else -0.5)
    z += {"male": 0.6, "female": -0.6}.get(sex, 0.0) + (0.8 if site == "palms/soles" else 0.0)
    return float(1 / (1 + np.exp(-(0.8 * z - 0.3))))


@pytest.fixture
def fused_model(transactional_db, tmp_path):
    from classifier.inference.testing import make_tiny_artifact
    from classifier.services import model_version_register

    sha256, meta = make_tiny_artifact(tmp_path / "plain.naevus.pt", img_size=64)
    state = load_artifact(tmp_path / "plain.naevus.pt", expected_sha256=sha256).state_dict
    meta = {**meta, "version": "fused", "fusion": HEAD}
    sha256 = save_artifact(tmp_path / "fused.naevus.pt", state_dict=state, meta=meta)
    return model_version_register(
        artifact_path=str(tmp_path / "fused.naevus.pt"), sha256=sha256, meta=meta, activate=True
    )


def _upload(api, lesion, seed: int, **extra) -> dict:
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("a.jpg", lesion_jpeg(seed), "image/jpeg")], **extra},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    url = response.json()["images"][0]["predictions"][0]["url"]
    return wait_for(lambda: (b := api.get(url).json())["status"] == "done" and b, timeout=400, message="prediction")


def test_the_worker_fuses_the_patients_age_sex_and_site_and_records_which_it_used(
    as_user, alice, clinic_a, fused_model, worker
):
    assert fused_model.threshold == 0.4  # decisions use the head's threshold, not the image model's 0.5
    api = as_user(alice)
    known = LesionFactory(
        patient=PatientFactory(clinic=clinic_a, sex="male", birth_year=1940), anatomic_site="palms/soles"
    )
    # Age at capture (2000 − 1940 = 60), not today's.
    full = _upload(api, known, 1, captured_at="2000-06-01T10:00:00Z")
    unknown = LesionFactory(
        patient=PatientFactory(clinic=clinic_a, sex="unknown", birth_year=None), anatomic_site="unknown"
    )
    nothing = _upload(api, unknown, 2)

    assert full["metadata_used"] == ["age", "sex", "site"]
    assert nothing["metadata_used"] == []
    for body, expected in (
        (full, fused(full["raw_score"], age=60.0, sex="male", site="palms/soles")),
        (nothing, fused(nothing["raw_score"], age=None, sex=None, site=None)),
    ):
        assert body["model_probability"] == pytest.approx(expected, abs=1e-6)
        assert body["melanoma_probability"] == body["model_probability"]
        assert body["threshold"] == 0.4
        assert body["risk_category"] == ("refer" if expected >= 0.4 else "routine")
        # The image model alone (binary head, no calibration): sigmoid of its logit.
        assert body["image_probability"] == pytest.approx(1 / (1 + np.exp(-body["raw_score"])), abs=1e-6)
    assert full["model_probability"] - nothing["model_probability"] > 0.2
    assert Prediction.objects.get(pk=full["id"]).metadata_used == ["age", "sex", "site"]
    # Ids and statuses only: the worker's log never carries the values it fused.
    log = worker.log()
    assert "1940" not in log and "palms/soles" not in log


def test_a_version_without_a_head_serves_the_image_alone(as_user, alice, clinic_a, tiny_model, worker):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a, sex="male", birth_year=1940), anatomic_site="torso")
    body = _upload(as_user(alice), lesion, 3)
    assert body["metadata_used"] is None
    assert body["model_probability"] == body["image_probability"] == body["melanoma_probability"]
    assert body["model_probability"] == pytest.approx(1 / (1 + np.exp(-body["raw_score"])), abs=1e-6)
