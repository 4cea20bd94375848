"""Refer or routine: the calibrated probability against the threshold of the version that made it.

Known probabilities on both sides of the threshold and at it, stored through the worker's service and read
back through the API, the batch results (highest risk first) and the CSV. The threshold is 0.3, not 0.5,
so that neither a hard-coded default nor an inverted comparison can pass."""

import csv
import io

import pytest

from classifier.inference.engine import Result
from classifier.models import BatchJob, Prediction
from classifier.services import prediction_store_result
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db

THRESHOLD = 0.3
# file name → calibrated probability, and the category it must get
CASES = {
    "above.jpg": (0.31, "refer"),
    "at.jpg": (THRESHOLD, "refer"),
    "below.jpg": (0.29, "routine"),
    "far-below.jpg": (0.02, "routine"),
}


@pytest.fixture
def batch_with_known_scores(alice, clinic_a):
    version = ModelVersionFactory(threshold=THRESHOLD)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    batch = BatchJob.objects.create(clinic=clinic_a, created_by=alice, model_version=version, total=len(CASES))
    for file_name, (probability, _) in CASES.items():
        prediction = Prediction.objects.create(
            image=LesionImageFactory(lesion=lesion, original_name=file_name),
            model_version=version,
            batch=batch,
            status=Prediction.Status.RUNNING,
        )
        stored = prediction_store_result(prediction=prediction, result=Result(raw_score=0.0, probability=probability))
        assert stored
    return batch


def test_a_probability_at_or_above_the_threshold_is_refer_and_below_it_routine(batch_with_known_scores):
    stored = {p.image.original_name: p for p in Prediction.objects.select_related("image")}
    assert {name: p.risk_category for name, p in stored.items()} == {name: c for name, (_, c) in CASES.items()}
    assert all(p.threshold == THRESHOLD for p in stored.values())


def test_the_api_reports_each_predictions_category_with_the_threshold_it_was_judged_against(
    batch_with_known_scores, as_user, alice
):
    api = as_user(alice)
    for prediction in Prediction.objects.select_related("image"):
        body = api.get(f"/api/v1/predictions/{prediction.pk}/").json()
        probability, category = CASES[prediction.image.original_name]
        assert (body["melanoma_probability"], body["risk_category"], body["threshold"]) == (
            probability,
            category,
            THRESHOLD,
        )


def test_batch_results_put_every_refer_before_every_routine_highest_probability_first(
    batch_with_known_scores, as_user, alice
):
    api = as_user(alice)
    results = api.get(f"/api/v1/batches/{batch_with_known_scores.pk}/results/").json()["results"]
    assert [(r["file_name"], r["risk_category"]) for r in results] == [
        ("above.jpg", "refer"),
        ("at.jpg", "refer"),
        ("below.jpg", "routine"),
        ("far-below.jpg", "routine"),
    ]


def test_the_results_csv_carries_the_same_categories_in_the_same_order(batch_with_known_scores, as_user, alice):
    api = as_user(alice)
    response = api.get(f"/api/v1/batches/{batch_with_known_scores.pk}/results.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["file_name"], float(r["melanoma_probability"]), r["risk_category"]) for r in rows] == [
        (name, probability, category) for name, (probability, category) in CASES.items()
    ]
