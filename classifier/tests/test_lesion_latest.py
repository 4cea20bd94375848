"""Each lesion's current result is flagged when it is stored (Prediction.lesion_latest, what the worklist reads):
its newest image's newest done prediction. The flag follows the same order whether a service stores a result,
a row is saved whole, or rows are written in bulk (FLAG_LATEST_SQL)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from classifier.models import FLAG_LATEST_SQL, Prediction, lesion_latest_refresh
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _image(lesion, days_ago: int):
    image = LesionImageFactory(lesion=lesion)
    type(image).objects.filter(pk=image.pk).update(uploaded_at=timezone.now() - timedelta(days=days_ago))
    return image


def _prediction(image, version, *, status=Prediction.Status.DONE, probability=0.3):
    return Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status=status,
        melanoma_probability=probability if status == Prediction.Status.DONE else None,
        finished_at=timezone.now(),
    )


def flagged(lesion) -> set[int]:
    return set(Prediction.objects.filter(image__lesion=lesion, lesion_latest=True).values_list("pk", flat=True))


def test_the_newest_images_done_result_is_the_lesions_current_one(clinic_a):
    version, other_version = ModelVersionFactory(), ModelVersionFactory(is_active=False)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    old, new = _image(lesion, 30), _image(lesion, 1)
    first = _prediction(old, version)
    assert flagged(lesion) == {first.pk}
    second = _prediction(new, version)
    assert flagged(lesion) == {second.pk}
    # An older image analysed again later does not take over: the newest image decides.
    _prediction(old, other_version)
    assert flagged(lesion) == {second.pk}
    # A newer image whose analysis failed or is queued is no result.
    newest = _image(lesion, 0)
    _prediction(newest, version, status=Prediction.Status.FAILED)
    assert flagged(lesion) == {second.pk}
    # Its re-analysis, once stored by the service, is.
    from classifier.services import prediction_store_result

    running = _prediction(newest, other_version, status=Prediction.Status.RUNNING)
    result = type("Result", (), dict(probability=0.9, raw_score=2.0, image_probability=None, metadata_used=None,
                                     class_probs=None, cam=None, heatmap_png=None, quality=None, decode_ms=1.0,
                                     inference_ms=1.0, quality_ms=0.0, embedding=None, ood_score=None,
                                     ood_flag=None))()  # fmt: skip
    assert prediction_store_result(prediction=running, result=result)
    assert flagged(lesion) == {running.pk}


def test_rows_written_in_bulk_get_the_same_flags_as_rows_stored_one_by_one(clinic_a):
    version = ModelVersionFactory()
    lesions = [LesionFactory(patient=PatientFactory(clinic=clinic_a)) for _ in range(3)]
    for i, lesion in enumerate(lesions):
        for days in (5, 2, 9)[: i + 1]:
            _prediction(_image(lesion, days), version)
    expected = {lesion.pk: flagged(lesion) for lesion in lesions}
    assert all(len(v) == 1 for v in expected.values())
    Prediction.objects.update(lesion_latest=False)
    with connection.cursor() as cursor:
        cursor.execute(FLAG_LATEST_SQL)
    assert {lesion.pk: flagged(lesion) for lesion in lesions} == expected
    Prediction.objects.update(lesion_latest=True)
    lesion_latest_refresh(lesion_ids=[lesion.pk for lesion in lesions])
    assert {lesion.pk: flagged(lesion) for lesion in lesions} == expected
