"""A worker's chunk stores its results together (issue #16 item 3): a fixed number of queries whatever the
chunk's size, and exactly the columns, flags and scores that storing the same results one by one gives."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.inference.engine import Result
from classifier.models import Prediction
from classifier.services import prediction_store_result, predictions_store_results
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db

# Columns a result sets, compared between the two paths (ids, timestamps and timings aside).
COLUMNS = (
    "status", "melanoma_probability", "model_probability", "raw_score", "class_probabilities", "risk_category",
    "threshold", "operating_point_id", "cam", "embedding", "error", "lesion_latest", "outlier_score",
)  # fmt: skip


def _result(i: int) -> Result:
    rng = np.random.default_rng(i)
    probability = float(rng.uniform(0.05, 0.95))
    return Result(
        raw_score=float(np.log(probability / (1 - probability))),
        probability=probability,
        class_probs={"melanoma": probability, "nevus": 1 - probability},
        embedding=rng.normal(size=16).astype("float32"),
        cam=rng.uniform(size=(4, 4)).astype("float32"),
    )


def _running(clinic, version, *, patients: int, lesions_each: int) -> list[Prediction]:
    """A running prediction on a new image of each lesion, with the lesion's earlier done result."""
    out = []
    for _ in range(patients):
        patient = PatientFactory(clinic=clinic)
        for _ in range(lesions_each):
            lesion = LesionFactory(patient=patient)
            earlier = Prediction.objects.create(
                image=LesionImageFactory(lesion=lesion), model_version=version, status=Prediction.Status.RUNNING
            )
            prediction_store_result(prediction=earlier, result=_result(earlier.pk + 1000))
            image = LesionImageFactory(lesion=lesion)
            out.append(
                Prediction.objects.select_related("image__lesion__patient", "model_version").get(
                    pk=Prediction.objects.create(
                        image=image, model_version=version, status=Prediction.Status.RUNNING
                    ).pk
                )
            )
    return out


def _queries(predictions: list[Prediction]) -> int:
    with CaptureQueriesContext(connection) as ctx:
        taken = predictions_store_results(stored=[(p, _result(p.pk)) for p in predictions])
    assert len(taken) == len(predictions)
    return len(ctx.captured_queries)


def test_a_chunk_costs_the_same_queries_whatever_its_size(clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    small = _queries(_running(clinic_a, version, patients=1, lesions_each=3))
    large = _queries(_running(clinic_a, version, patients=4, lesions_each=4))
    assert large == small  # 3 results of one patient, 16 of four
    # Lock, operating point, write; lesions' lock, current results, two flag updates; patients, their lock,
    # their results and embeddings, two score updates (see predictions_store_results).
    assert small == 13


def test_a_chunk_stores_what_storing_each_result_alone_stores(clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    chunk = _running(clinic_a, version, patients=2, lesions_each=3)
    alone = _running(clinic_a, version, patients=2, lesions_each=3)
    # The same results on both sides, position by position.
    results = [_result(i) for i in range(len(chunk))]

    predictions_store_results(stored=list(zip(chunk, results, strict=True)))
    for prediction, result in zip(alone, results, strict=True):
        assert prediction_store_result(prediction=prediction, result=result)

    def columns(predictions):
        rows = Prediction.objects.in_bulk([p.pk for p in predictions])
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in (getattr(rows[p.pk], c) for c in COLUMNS))
                for p in predictions]  # fmt: skip

    assert columns(chunk) == columns(alone)
    assert all(row[COLUMNS.index("lesion_latest")] for row in columns(chunk))
    assert all(row[COLUMNS.index("outlier_score")] is not None for row in columns(chunk))  # 3 lesions each
    earlier = Prediction.objects.filter(image__lesion__in=[p.image.lesion_id for p in chunk]).exclude(
        pk__in=[p.pk for p in chunk]
    )
    assert not earlier.filter(lesion_latest=True).exists()


def test_a_prediction_no_longer_running_keeps_what_it_has(clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    first, second = _running(clinic_a, version, patients=1, lesions_each=2)
    Prediction.objects.filter(pk=first.pk).update(status=Prediction.Status.FAILED, error="cancelled")

    taken = predictions_store_results(stored=[(first, _result(1)), (second, _result(2))])

    assert [p.pk for p in taken] == [second.pk]
    first.refresh_from_db()
    assert (first.status, first.error, first.melanoma_probability) == (Prediction.Status.FAILED, "cancelled", None)
