"""Within-patient dissimilarity ("ugly duckling") and the out-of-distribution fields, end to end from
the worker's service to the case history API. A patient is built from real images (samples/isic):
the first four nevi and the first vascular lesion by file name, each lesion one image, analysed by
Lite0's ImageNet backbone (embeddings that vary); the vascular lesion must be the top outlier."""

import csv

import numpy as np
import pytest

from classifier.inference.engine import BACKEND_TORCH_CPU, Engine
from classifier.inference.ood import fit_stats
from classifier.inference.testing import SAMPLES, make_imagenet_artifact
from classifier.models import Prediction
from classifier.services import prediction_store_result
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _by_diagnosis() -> dict[str, list[str]]:
    with open(SAMPLES / "labels.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["image_name"])
    names: dict[str, list[str]] = {}
    for row in rows:
        names.setdefault(row["diagnosis"], []).append(row["image_name"])
    return names


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("lite0") / "lite0.naevus.pt"
    sha256, _ = make_imagenet_artifact(path)
    engine = Engine.from_artifact(path, sha256=sha256, backend=BACKEND_TORCH_CPU)
    # OOD statistics from ten melanoma images that are not in the patient, so the fields are filled.
    fit = engine.embed([str(SAMPLES / f"{name}.jpg") for name in _by_diagnosis()["melanoma"][:10]])
    engine.meta = {**engine.meta, "ood": fit_stats(fit, fit)}
    return engine


@pytest.fixture
def patient_with_an_odd_lesion(engine, clinic_a):
    names = _by_diagnosis()
    chosen = [*names["nevus"][:4], names["vascular lesion"][0]]
    patient = PatientFactory(clinic=clinic_a)
    version = ModelVersionFactory()
    results = engine.analyse([(SAMPLES / f"{name}.jpg").read_bytes() for name in chosen])
    lesions = {}
    for name, result in zip(chosen, results, strict=True):
        lesion = LesionFactory(patient=patient, label=name)
        prediction = Prediction.objects.create(
            image=LesionImageFactory(lesion=lesion), model_version=version, status=Prediction.Status.RUNNING
        )
        assert prediction_store_result(prediction=prediction, result=result)
        lesions[name] = lesion.pk
    return patient, lesions, chosen[-1]


def test_the_lesion_of_another_diagnosis_is_the_top_outlier_in_the_case_history(
    as_user, alice, patient_with_an_odd_lesion
):
    patient, lesions, odd = patient_with_an_odd_lesion
    body = as_user(alice).get(f"/api/v1/patients/{patient.pk}/history/").json()
    outliers = {lesion["id"]: lesion["outlier"] for lesion in body["lesions"]}
    assert all(o is not None and o["lesions"] == 5 for o in outliers.values())
    assert outliers[lesions[odd]]["rank"] == 1
    top = max(outliers.values(), key=lambda o: o["score"])
    assert top is outliers[lesions[odd]]


def test_predictions_expose_the_ood_score_and_flag(as_user, alice, patient_with_an_odd_lesion):
    patient, _, _ = patient_with_an_odd_lesion
    body = as_user(alice).get(f"/api/v1/patients/{patient.pk}/history/").json()
    predictions = [p for lesion in body["lesions"] for image in lesion["images"] for p in image["predictions"]]
    assert len(predictions) == 5
    assert all(isinstance(p["ood_score"], float) and isinstance(p["ood_flag"], bool) for p in predictions)
    stored = Prediction.objects.get(pk=predictions[0]["id"])
    assert np.frombuffer(bytes(stored.embedding), dtype="<f4").shape == (1280,)


def test_a_patient_with_two_lesions_gets_no_outlier_score(as_user, alice, engine, clinic_a):
    patient = PatientFactory(clinic=clinic_a)
    version = ModelVersionFactory()
    names = _by_diagnosis()["nevus"][:2]
    for result in engine.analyse([(SAMPLES / f"{name}.jpg").read_bytes() for name in names]):
        prediction = Prediction.objects.create(
            image=LesionImageFactory(lesion=LesionFactory(patient=patient)),
            model_version=version,
            status=Prediction.Status.RUNNING,
        )
        prediction_store_result(prediction=prediction, result=result)
    body = as_user(alice).get(f"/api/v1/patients/{patient.pk}/history/").json()
    assert [lesion["outlier"] for lesion in body["lesions"]] == [None, None]


def test_charlie_cannot_read_the_outliers_of_clinic_as_patient(as_user, charlie, patient_with_an_odd_lesion):
    patient, _, _ = patient_with_an_odd_lesion
    assert as_user(charlie).get(f"/api/v1/patients/{patient.pk}/history/").status_code == 404
