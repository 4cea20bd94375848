"""Receivers: every save and delete of a review stores its result's review state and its lesion's pending biopsy
again, and every save and delete of an outcome its lesion's (triage/reviews.py: the columns the worklist's queues
read). And what renews a clinic's change stamp (portal/core/clinic_changes.py), under which the worklist's counts
are cached: every save and delete of a row the queues are computed from — results, reviews, the review policy and
outcomes. Deleting a patient, lesion or image deletes its results, each of which renews the stamp; creating or
editing one changes no queue. Results stored with a queryset `update()` (the worker's path, which sends no signal)
renew it in `classifier.models.lesion_latest_refresh`, which every such store runs."""

from django.db.models.signals import post_delete, post_save

from classifier.models import Prediction
from portal.core.clinic_changes import clinic_changed
from portal.records.models import Lesion, Outcome

from .models import Review, ReviewPolicy
from .reviews import biopsy_pending_refresh, review_fields_refresh


def _review_fields(sender, instance, **kwargs) -> None:
    review_fields_refresh(prediction_ids=[instance.prediction_id])


def _biopsy_pending(sender, instance, **kwargs) -> None:
    biopsy_pending_refresh(lesion_ids=[instance.lesion_id])


def _own_clinic(sender, instance, **kwargs) -> None:
    clinic_changed(instance.clinic_id)


def _outcome_clinic(sender, instance, **kwargs) -> None:
    # An outcome deleted with its lesion finds none; the lesion's results, deleted with it, renew the stamp.
    clinic_changed(Lesion.objects.filter(pk=instance.lesion_id).values_list("patient__clinic_id", flat=True).first())


def connect() -> None:
    # Before the stamp's receivers (connected below): the counts recomputed after a renewal read the new state.
    for model, receiver in ((Review, _review_fields), (Outcome, _biopsy_pending)):
        post_save.connect(receiver, sender=model, dispatch_uid=f"review-fields-{model.__name__}-save")
        post_delete.connect(receiver, sender=model, dispatch_uid=f"review-fields-{model.__name__}-delete")
    for model, receiver in ((Prediction, _own_clinic), (Review, _own_clinic), (ReviewPolicy, _own_clinic),
                            (Outcome, _outcome_clinic)):  # fmt: skip
        post_save.connect(receiver, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-save")
        post_delete.connect(receiver, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-delete")
