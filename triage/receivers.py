"""Receivers: what renews a clinic's change stamp (portal/core/clinic_changes.py), under which the worklist's counts are
cached: every save and delete of a row the queues read. Results stored with a queryset `update()` (the worker's
path, which sends no signal) renew it in `classifier.models.lesion_latest_refresh`, which every such store runs."""

from django.db.models.signals import post_delete, post_save

from classifier.models import Prediction
from portal.core.clinic_changes import clinic_changed
from portal.records.models import Lesion, LesionImage, Outcome, Patient

from .models import Review, ReviewPolicy


def _own_clinic(sender, instance, **kwargs) -> None:
    clinic_changed(instance.clinic_id)


def _lesion_clinic(sender, instance, **kwargs) -> None:
    # An outcome's or a lesion's clinic is its patient's; a row deleted with its lesion or patient finds none,
    # and the images and results deleted with them renew the stamp themselves.
    patient_id = instance.patient_id if isinstance(instance, Lesion) else None
    if patient_id is None:
        patient_id = Lesion.objects.filter(pk=instance.lesion_id).values_list("patient_id", flat=True).first()
    clinic_changed(Patient.objects.filter(pk=patient_id).values_list("clinic_id", flat=True).first())


def connect() -> None:
    for model in (Prediction, Review, ReviewPolicy, LesionImage, Patient):
        post_save.connect(_own_clinic, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-save")
        post_delete.connect(_own_clinic, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-delete")
    for model in (Outcome, Lesion):
        post_save.connect(_lesion_clinic, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-save")
        post_delete.connect(_lesion_clinic, sender=model, dispatch_uid=f"clinic-changes-{model.__name__}-delete")
