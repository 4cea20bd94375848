"""Dismissing the image-quality advice: a clinician's audited decision, within their clinic."""

import pytest

from classifier.models import Prediction
from portal.audit.models import Action, AuditEvent
from portal.tests.clinic_data import clinic_data_create
from portal.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(clinic_a, alice):
    return clinic_data_create(clinic=clinic_a, user=alice, tag="Alder", model_version=ModelVersionFactory())


def url(prediction):
    return f"/api/v1/predictions/{prediction.pk}/quality/dismiss/"


def test_a_clinician_dismisses_the_advice_and_it_is_recorded_and_audited(as_user, alice, bob, data):
    response = as_user(bob).post(url(data.prediction))
    assert response.status_code == 200
    quality = response.json()["quality"]
    assert quality["dismissed"] is True and quality["dismissed_at"]
    assert quality["reasons"] == ["blurred"] and quality["label"] == "quality: retake advised (blurred)"
    prediction = Prediction.objects.get(pk=data.prediction.pk)
    assert prediction.quality_dismissed_by == bob and prediction.quality_reasons == ["blurred"]
    assert AuditEvent.objects.filter(
        user_id=bob.pk, action=Action.EXECUTE, object_type="prediction_quality_dismiss", object_id=str(prediction.pk)
    ).exists()
    assert as_user(alice).get(f"/api/v1/predictions/{prediction.pk}/").json()["quality"]["dismissed"] is True


def test_an_image_without_advice_has_nothing_to_dismiss(as_user, alice, data):
    Prediction.objects.filter(pk=data.prediction.pk).update(quality_reasons=[])
    response = as_user(alice).post(url(data.prediction))
    assert response.status_code == 409
    assert response.json()["code"] == "no_quality_advice"
    assert Prediction.objects.get(pk=data.prediction.pk).quality_dismissed_at is None


def test_another_clinic_cannot_dismiss_it(as_user, charlie, data):
    assert as_user(charlie).post(url(data.prediction)).status_code == 404
    assert Prediction.objects.get(pk=data.prediction.pk).quality_dismissed_at is None
