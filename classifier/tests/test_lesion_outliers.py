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


def _case_history_scores(api, patient) -> dict[int, float]:
    body = api.get(f"/api/v1/patients/{patient.pk}/history/").json()
    return {lesion["id"]: lesion["outlier"]["score"] for lesion in body["lesions"] if lesion["outlier"]}


def test_the_worklist_sorted_by_outlier_puts_the_odd_lesion_first_and_next_walks_that_order(
    as_user, alice, engine, clinic_a, patient_with_an_odd_lesion
):
    patient, lesions, odd = patient_with_an_odd_lesion
    # Another patient with two lesions: never compared, so after every compared lesion whatever its risk.
    pair = PatientFactory(clinic=clinic_a)
    version = Prediction.objects.filter(image__lesion__patient=patient).first().model_version
    uncompared = []
    for result in engine.analyse([(SAMPLES / f"{n}.jpg").read_bytes() for n in _by_diagnosis()["melanoma"][:2]]):
        lesion = LesionFactory(patient=pair)
        prediction = Prediction.objects.create(
            image=LesionImageFactory(lesion=lesion), model_version=version, status=Prediction.Status.RUNNING
        )
        prediction_store_result(prediction=prediction, result=result)
        uncompared.append(lesion.pk)
    api = as_user(alice)

    rows = api.get("/api/v1/worklist/", {"sort": "outlier", "page_size": 50}).json()["results"]

    order = [row["lesion_id"] for row in rows]
    scores = [row["outlier_score"] for row in rows]
    assert order[0] == lesions[odd]
    assert set(order[-2:]) == set(uncompared) and scores[-2:] == [None, None]
    assert scores[:5] == sorted(scores[:5], reverse=True)
    # The sort key is the case history's score, not a second definition of it.
    assert dict(zip(order[:5], scores[:5], strict=True)) == pytest.approx(_case_history_scores(api, patient))
    walked, lesion_id = [], order[0]
    while lesion_id is not None:
        walked.append(lesion_id)
        lesion_id = api.get(f"/api/v1/worklist/lesions/{lesion_id}/", {"sort": "outlier"}).json()["next_lesion_id"]
    assert walked == order


def test_a_new_lesion_rescores_the_patients_stored_outlier_keys(as_user, alice, engine, patient_with_an_odd_lesion):
    patient, lesions, odd = patient_with_an_odd_lesion
    api = as_user(alice)
    before = _case_history_scores(api, patient)
    # A sixth lesion, of yet another diagnosis: every lesion's score moves, and the stored keys follow.
    name = _by_diagnosis()["melanoma"][0]
    (result,) = engine.analyse([(SAMPLES / f"{name}.jpg").read_bytes()])
    prediction = Prediction.objects.create(
        image=LesionImageFactory(lesion=LesionFactory(patient=patient)),
        model_version=Prediction.objects.filter(image__lesion__patient=patient).first().model_version,
        status=Prediction.Status.RUNNING,
    )
    prediction_store_result(prediction=prediction, result=result)

    after = _case_history_scores(api, patient)
    stored = dict(
        Prediction.objects.filter(image__lesion__patient=patient, outlier_score__isnull=False).values_list(
            "image__lesion_id", "outlier_score"
        )
    )
    assert len(after) == 6 and any(after[k] != pytest.approx(before[k]) for k in before)
    assert stored == pytest.approx(after)


def test_an_unknown_sort_is_a_400_naming_the_parameter(as_user, alice):
    response = as_user(alice).get("/api/v1/worklist/", {"sort": "name"})
    assert response.status_code == 400
    assert "sort" in response.json()["fields"]


@pytest.mark.django_db(transaction=True)
def test_the_worker_stores_the_outlier_keys_once_per_chunk(as_user, alice, clinic_a, tiny_model):
    """The worker's chunk path (classifier.tasks.predict, run here in-process on the real ONNX engine) stores
    the chunk's results together and re-scores each patient once (services.predictions_store_results)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.tasks import predict

    from .test_worker_integration import lesion_jpeg

    api = as_user(alice)
    patient = PatientFactory(clinic=clinic_a)
    ids = []
    for seed in range(4):
        response = api.post(
            f"/api/v1/lesions/{LesionFactory(patient=patient).pk}/images/",
            {"files": [SimpleUploadedFile("a.jpg", lesion_jpeg(seed), "image/jpeg")]},
            format="multipart",
        )
        assert response.status_code == 202, response.content
        ids.append(response.json()["images"][0]["predictions"][0]["id"])

    predict.apply(args=[ids])

    assert Prediction.objects.filter(pk__in=ids, status=Prediction.Status.DONE).count() == 4
    stored = dict(Prediction.objects.filter(pk__in=ids).values_list("image__lesion_id", "outlier_score"))
    assert None not in stored.values()
    assert stored == pytest.approx(_case_history_scores(api, patient))
