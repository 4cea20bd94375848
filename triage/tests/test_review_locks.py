"""A read signed while a worker stores the same lesion's new visit: both lock the lesion before its results
(triage/reviews.py::results_lock, classifier/models.py::lesion_latest_refresh), so one waits for the other
instead of the two deadlocking (the reader holding the result and wanting the lesion, the worker holding the
lesion and wanting the result it un-flags).

Real PostgreSQL, real row locks: the worker's store runs in a thread with its own connection."""

import datetime as dt
import threading
import time

import pytest
from django.db import connections
from django.db.models.signals import pre_save
from django.utils import timezone

from classifier.models import Prediction, lesion_latest_refresh
from portal.tests.factories import LesionFactory, LesionImageFactory, ModelVersionFactory, PatientFactory
from triage.models import Review
from triage.services import review_create, review_sign

pytestmark = pytest.mark.django_db(transaction=True)


def _done(lesion, version, *, minutes_ago):
    image = LesionImageFactory(lesion=lesion, uploaded_at=timezone.now() - dt.timedelta(minutes=minutes_ago))
    # Stored as the worker stores it (a queryset update, no flagging yet): lesion_latest_refresh flags it.
    prediction = Prediction.objects.create(
        image=image, model_version=version, image_sha256=image.sha256, status=Prediction.Status.QUEUED, threshold=0.5
    )
    Prediction.objects.filter(pk=prediction.pk).update(
        status=Prediction.Status.DONE, melanoma_probability=0.9, risk_category="refer", finished_at=timezone.now()
    )
    return prediction


def test_a_read_signed_while_the_lesions_new_visit_is_stored_waits_and_neither_fails(alice, clinic_a):
    version = ModelVersionFactory(threshold=0.5)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    old = _done(lesion, version, minutes_ago=60)
    lesion_latest_refresh(lesion_ids=[lesion.pk])
    new = _done(lesion, version, minutes_ago=0)  # the new visit, stored but not flagged yet

    locked, worker_started, errors = threading.Event(), threading.Event(), []

    def worker():
        try:
            assert locked.wait(timeout=10)
            worker_started.set()
            lesion_latest_refresh(lesion_ids=[lesion.pk])  # takes the lesion, then un-flags `old`
        except Exception as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    def between_the_locks_and_the_read(sender, **kwargs):
        # The service has taken its locks; the worker starts storing the new visit now and (after the sleep) is
        # waiting for the lesion. With the result locked alone here, it would hold the lesion and wait for the
        # result, and the read's receiver would then wait for the lesion: a deadlock, one of the two aborted.
        locked.set()
        assert worker_started.wait(timeout=10)
        time.sleep(0.5)

    thread = threading.Thread(target=worker)
    thread.start()
    pre_save.connect(between_the_locks_and_the_read, sender=Review, dispatch_uid="test-review-locks")
    try:
        read = review_create(user=alice, prediction=old, data={"assessment": "malignant", "management": "excise"})
    finally:
        pre_save.disconnect(dispatch_uid="test-review-locks", sender=Review)
        thread.join(timeout=30)
    assert not errors, errors

    review_sign(user=alice, review=read)
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.lesion_latest, new.lesion_latest) == (False, True)
    assert old.review_state == "awaiting_second_read"  # a refer: the default policy asks for a second read
    # The read was signed after the worker flagged the new visit: the flag reached the new current result.
    assert new.biopsy_pending is True
