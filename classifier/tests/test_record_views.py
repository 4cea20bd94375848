"""The records as the clinician reads them (classifier/api.py's composed views): a patient's highest
current risk, an image's predictions, the upload that queues them for the active model."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Prediction
from portal.records.models import LesionImage
from portal.records.tests.test_uploads import _file, _media_files, _upload
from portal.tests.factories import (
    LesionFactory,
    LesionImageFactory,
    ModelVersionFactory,
    PatientFactory,
    jpeg_bytes,
    png_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesion(clinic_a):
    return LesionFactory(patient=PatientFactory(clinic=clinic_a))


def test_an_upload_is_stored_under_a_random_name_and_queued_for_the_active_model(as_user, alice, lesion, settings):
    version = ModelVersionFactory()
    response = _upload(
        as_user(alice), lesion, _file("mole.jpg", jpeg_bytes()), _file("b.png", png_bytes(), "image/png")
    )
    assert response.status_code == 202, response.json()
    images = response.json()["images"]
    assert len(images) == 2
    assert images[0]["predictions"][0]["status"] == "queued"
    assert images[0]["predictions"][0]["model_version"]["id"] == version.pk
    stored = LesionImage.objects.order_by("id")
    assert [i.content_type for i in stored] == ["image/jpeg", "image/png"]
    assert all("mole" not in i.file.name for i in stored)
    assert all(p.startswith(str(settings.MEDIA_ROOT)) for p in _media_files(settings))
    assert Prediction.objects.filter(model_version=version).count() == 2
    lesion.patient.refresh_from_db()
    assert lesion.patient.last_visit is not None


def test_without_an_active_model_images_are_stored_without_a_prediction(as_user, alice, lesion):
    response = _upload(as_user(alice), lesion, _file("a.jpg", jpeg_bytes()))
    assert response.status_code == 202
    assert response.json()["images"][0]["predictions"] == []


def test_the_list_shows_the_highest_current_risk(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    patient = PatientFactory(clinic=clinic_a)
    for probability in (0.2, 0.9, None):
        image = LesionImageFactory(lesion=LesionFactory(patient=patient))
        Prediction.objects.create(
            image=image,
            model_version=version,
            image_sha256=image.sha256,
            status="done" if probability is not None else "queued",
            melanoma_probability=probability,
            risk_category="refer" if probability and probability > 0.3 else "routine",
        )
    row = as_user(alice).get("/api/v1/patients/").json()["results"][0]
    assert row["highest_risk"]["probability"] == pytest.approx(0.9)
    assert row["highest_risk"]["risk_category"] == "refer"
    assert row["lesion_count"] == 3


def test_list_detail_history_and_update_agree_on_lesion_count_and_highest_risk(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    patient = PatientFactory(clinic=clinic_a)
    image = LesionImageFactory(lesion=LesionFactory(patient=patient))
    Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status="done",
        melanoma_probability=0.79,
        risk_category="refer",
    )
    api = as_user(alice)
    summaries = {
        "list": api.get("/api/v1/patients/").json()["results"][0],
        "detail": api.get(f"/api/v1/patients/{patient.pk}/").json(),
        "history": api.get(f"/api/v1/patients/{patient.pk}/history/").json()["patient"],
        "update": api.patch(f"/api/v1/patients/{patient.pk}/", {"notes": "seen"}, format="json").json(),
    }
    expected = {"probability": pytest.approx(0.79), "risk_category": "refer", "model_version_id": version.pk}
    for screen, body in summaries.items():
        assert (body["lesion_count"], body["highest_risk"]) == (1, expected), screen


def _history_queries(api, patient_id):
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(f"/api/v1/patients/{patient_id}/history/")
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


def test_case_history_is_newest_first_and_costs_the_same_queries_whatever_its_size(as_user, alice, clinic_a):
    version = ModelVersionFactory()
    api = as_user(alice)
    small = PatientFactory(clinic=clinic_a)
    image = LesionImageFactory(lesion=LesionFactory(patient=small))
    Prediction.objects.create(image=image, model_version=version, image_sha256="x")
    big = PatientFactory(clinic=clinic_a)
    for _ in range(4):
        lesion = LesionFactory(patient=big)
        for _ in range(3):
            image = LesionImageFactory(lesion=lesion)
            Prediction.objects.create(image=image, model_version=version, image_sha256="x")
        lesion.outcomes.create(diagnosis="nevus", benign_malignant="benign", date="2026-01-01")

    _history_queries(api, small.pk)  # warm: session, audit chain head
    small_count, _ = _history_queries(api, small.pk)
    big_count, body = _history_queries(api, big.pk)
    assert small_count == big_count
    lesion_ids = [lesion["id"] for lesion in body["lesions"]]
    assert lesion_ids == sorted(lesion_ids, reverse=True)
    first = body["lesions"][0]
    assert len(first["images"]) == 3 and first["images"][0]["predictions"][0]["status"] == "queued"
    assert first["images"][0]["predictions"][0]["model_version"]["is_demo"] is True
    assert first["outcomes"][0]["diagnosis"] == "nevus"
