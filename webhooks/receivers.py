"""classifier's and triage's signals → webhook events. Each payload carries ids and results, never a
patient's name or an image: the receiver looks up what it needs in its own records."""

from django.db.models import Count
from django.dispatch import receiver

from classifier.models import BatchJob, Prediction
from classifier.signals import batch_finished, prediction_finished
from triage.models import Review
from triage.signals import review_signed

from .models import Endpoint, Event
from .services import event_emit


def _subscribed(clinic_id: int, event: Event) -> bool:
    # Most clinics register no endpoint: no payload is built for them.
    return any(event.value in e for e in Endpoint.objects.filter(clinic_id=clinic_id, is_active=True).values_list(
        "events", flat=True
    ))  # fmt: skip


def _version(prediction: Prediction) -> dict:
    v = prediction.model_version
    return {"id": v.pk, "name": v.name, "version": v.version, "sha256": v.sha256, "is_demo": v.is_demo}


@receiver(prediction_finished)
def prediction_refer(sender, *, prediction_id: int, **kwargs):
    prediction = (
        Prediction.objects.select_related("image__lesion", "model_version")
        .filter(pk=prediction_id, status=Prediction.Status.DONE, risk_category=Prediction.Risk.REFER)
        .first()
    )
    if prediction is None or not _subscribed(prediction.image.clinic_id, Event.PREDICTION_REFER):
        return
    event_emit(
        clinic_id=prediction.image.clinic_id,
        event=Event.PREDICTION_REFER,
        data={
            "prediction_id": prediction.pk,
            "image_id": prediction.image_id,
            "lesion_id": prediction.image.lesion_id,
            "patient_id": prediction.image.lesion.patient_id,
            "batch_id": prediction.batch_id,
            "melanoma_probability": prediction.melanoma_probability,
            "threshold": prediction.threshold,
            "risk_category": prediction.risk_category,
            "model_version": _version(prediction),
            "finished_at": prediction.finished_at.isoformat() if prediction.finished_at else None,
        },
    )


@receiver(review_signed)
def review(sender, *, review_id: int, **kwargs):
    signed = (
        Review.objects.select_related("prediction__image__lesion").filter(pk=review_id, signed_at__isnull=False).first()
    )
    if signed is None or not _subscribed(signed.clinic_id, Event.REVIEW_SIGNED):
        return
    image = signed.prediction.image
    event_emit(
        clinic_id=signed.clinic_id,
        event=Event.REVIEW_SIGNED,
        data={
            "review_id": signed.pk,
            "supersedes": signed.supersedes_id,
            "kind": signed.kind,
            "reader_id": signed.reader_id,
            "prediction_id": signed.prediction_id,
            "lesion_id": image.lesion_id,
            "patient_id": image.lesion.patient_id,
            "assessment": signed.assessment,
            "management": signed.management,
            "follow_up_date": signed.follow_up_date.isoformat() if signed.follow_up_date else None,
            "agrees_with_model": signed.agrees_with_model,
            "model_risk": signed.model_risk,
            "signed_at": signed.signed_at.isoformat(),
        },
    )


@receiver(batch_finished)
def batch_done(sender, *, batch_id: int, **kwargs):
    batch = BatchJob.objects.filter(pk=batch_id).first()
    if batch is None or not _subscribed(batch.clinic_id, Event.BATCH_DONE):
        return
    counts = dict(batch.predictions.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    refer = batch.predictions.filter(risk_category=Prediction.Risk.REFER).count()
    event_emit(
        clinic_id=batch.clinic_id,
        event=Event.BATCH_DONE,
        data={
            "batch_id": batch.pk,
            "status": batch.status,
            "total": batch.total,
            "predictions": counts,
            "refer": refer,
            "rejected_files": batch.rejected_files.count(),
            "model_version_id": batch.model_version_id,
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        },
    )
