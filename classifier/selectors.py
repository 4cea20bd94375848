from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects
from django.http import Http404
from django.utils import timezone

from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.records import selectors as record_selectors
from portal.records.models import LesionImage, Patient
from portal.records.selectors import clinic_filter

from .inference.ood import MIN_OUTLIER_LESIONS, lesion_outlier_scores
from .models import BatchJob, ClinicOperatingPoint, ModelVersion, Prediction


def prediction_get(
    *, user, prediction_id, object_type: str = "prediction", audit: bool = True, action: Action = Action.READ
) -> Prediction:
    """``audit=False`` for a write that audits itself (the denial is still audited, as ``action``)."""
    prediction = (
        Prediction.objects.select_related("model_version", "image", "image__lesion")
        .filter(clinic_filter(user=user, field="image__clinic"), pk=prediction_id)
        .first()
    )
    if prediction is None:
        audit_record(user=user, action=action, object_type=object_type, object_id=prediction_id, outcome=Outcome.DENIED)
        raise Http404()
    if not audit:
        return prediction
    image = prediction.image
    audit_record(
        user=user,
        action=Action.READ,
        object_type=object_type,
        object_id=prediction.pk,
        patient_id=image.lesion.patient_id if image.lesion_id else None,
    )
    return prediction


def _with_progress(qs: QuerySet[BatchJob]) -> QuerySet[BatchJob]:
    S = Prediction.Status
    return qs.select_related("model_version").annotate(
        n_done=Count("predictions", filter=Q(predictions__status=S.DONE), distinct=True),
        n_failed_predictions=Count("predictions", filter=Q(predictions__status=S.FAILED), distinct=True),
        n_queued=Count("predictions", filter=Q(predictions__status=S.QUEUED), distinct=True),
        n_running=Count("predictions", filter=Q(predictions__status=S.RUNNING), distinct=True),
        n_cancelled=Count("predictions", filter=Q(predictions__status=S.CANCELLED), distinct=True),
        n_rejected=Count("rejected_files", distinct=True),
    )


def batch_progress(batch: BatchJob) -> BatchJob:
    """Adds done/failed/queued/running, the rate (per minute) and the ETA to an annotated batch."""
    batch.done = batch.n_done
    batch.failed = batch.n_failed_predictions + batch.n_rejected
    batch.queued = batch.n_queued
    batch.running = batch.n_running
    batch.cancelled = batch.n_cancelled
    end = batch.finished_at or timezone.now()
    elapsed = max((end - batch.created_at).total_seconds(), 1e-3)
    finished = batch.n_done + batch.n_failed_predictions
    batch.rate_per_min = round(finished / elapsed * 60, 1) if finished else None
    remaining = batch.queued + batch.running
    batch.eta_seconds = (
        round(remaining / (finished / elapsed), 1) if finished and remaining and batch.status == "running" else None
    )
    return batch


def batch_list(*, user) -> QuerySet[BatchJob]:
    audit_record(user=user, action=Action.READ, object_type="batch_list")
    return _with_progress(BatchJob.objects.filter(clinic_filter(user=user, field="clinic"))).order_by("-created_at")


def batch_get(*, user, batch_id, audit: bool = True, action: Action = Action.READ) -> BatchJob:
    batch = _with_progress(BatchJob.objects.filter(clinic_filter(user=user, field="clinic"), pk=batch_id)).first()
    if batch is None:
        audit_record(user=user, action=action, object_type="batch", object_id=batch_id, outcome=Outcome.DENIED)
        raise Http404()
    if audit:
        audit_record(user=user, action=Action.READ, object_type="batch", object_id=batch.pk)
    return batch_progress(batch)


def batch_results(*, user, batch: BatchJob) -> list[dict]:
    """Highest risk first; failed and rejected files last, with their reasons."""
    audit_record(user=user, action=Action.READ, object_type="batch_results", object_id=batch.pk)
    rows = (
        Prediction.objects.filter(batch=batch)
        .select_related("image", "image__lesion")
        .order_by(F("melanoma_probability").desc(nulls_last=True), "id")
    )
    results = [
        {
            "prediction_id": p.pk,
            "image_id": p.image_id,
            "file_name": p.image.original_name,
            "patient_id": p.image.lesion.patient_id if p.image.lesion_id else None,
            "lesion_id": p.image.lesion_id,
            "status": p.status,
            "melanoma_probability": p.melanoma_probability,
            "risk_category": p.risk_category or None,
            "has_heatmap": bool(p.heatmap) or bool(p.cam),
            "quality_reasons": p.quality_reasons or [],
            "quality_dismissed": p.quality_dismissed_at is not None,
            "error": p.error or None,
        }
        for p in rows
    ]
    results += [
        {
            "prediction_id": None,
            "image_id": None,
            "file_name": r.file_name,
            "patient_id": None,
            "lesion_id": None,
            "status": "failed",
            "melanoma_probability": None,
            "risk_category": None,
            "has_heatmap": False,
            "quality_reasons": [],
            "quality_dismissed": False,
            "error": r.reason,
        }
        for r in batch.rejected_files.order_by("id")
    ]
    return results


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("-created_at")


def model_version_get(*, model_version_id) -> ModelVersion:
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None:
        raise Http404()
    return version


def operating_point_list(*, user, model_version_id: int | None = None) -> QuerySet[ClinicOperatingPoint]:
    """The active operating points of the user's clinic (every clinic's, for a superuser)."""
    audit_record(user=user, action=Action.READ, object_type="operating_point_list")
    qs = ClinicOperatingPoint.objects.filter(clinic_filter(user=user, field="clinic"), is_active=True)
    if model_version_id is not None:
        qs = qs.filter(model_version_id=model_version_id)
    return qs.select_related("model_version").order_by("model_version_id", "clinic_id")


def operating_point_get(*, user, operating_point_id, object_type: str = "operating_point") -> ClinicOperatingPoint:
    point = (
        ClinicOperatingPoint.objects.select_related("model_version")
        .filter(clinic_filter(user=user, field="clinic"), pk=operating_point_id)
        .first()
    )
    if point is None:
        audit_record(
            user=user, action=Action.READ, object_type=object_type, object_id=operating_point_id, outcome=Outcome.DENIED
        )
        raise Http404()
    audit_record(user=user, action=Action.READ, object_type=object_type, object_id=point.pk)
    return point


# The records as the clinician reads them (classifier/api.py's patient and image views): records' selectors
# (scope, 404, audit) plus what the classifier knows about them.


def _with_highest_risk(qs: QuerySet[Patient]) -> QuerySet[Patient]:
    """Highest current risk: one definition for the list, the detail and the history, so that no screen can
    show a patient as risk-free while another says "refer"."""
    done = Prediction.objects.filter(
        image__lesion__patient=OuterRef("pk"), status=Prediction.Status.DONE, melanoma_probability__isnull=False
    ).order_by("-melanoma_probability")
    return qs.annotate(
        top_probability=Subquery(done.values("melanoma_probability")[:1]),
        top_risk=Subquery(done.values("risk_category")[:1]),
        top_model_version_id=Subquery(done.values("model_version_id")[:1]),
    )


def patient_list(*, user, search: str = "") -> QuerySet[Patient]:
    return _with_highest_risk(record_selectors.patient_list(user=user, search=search))


def patient_get(*, user, patient_id, audit: bool = True, action: Action = Action.READ) -> Patient:
    return record_selectors.patient_get(
        user=user, patient_id=patient_id, audit=audit, action=action, annotate=_with_highest_risk
    )


def patient_history(*, user, patient_id) -> Patient:
    """Records' history (lesions → images, outcomes) with each image's predictions, newest first: one more
    query whatever the size."""
    patient = record_selectors.patient_history(user=user, patient_id=patient_id, annotate=_with_highest_risk)
    # The 5 KB embeddings stay in the database: the odd-one-out score reads the few it needs.
    predictions = Prediction.objects.select_related("model_version").defer("embedding").order_by("-created_at", "-id")
    images = [image for lesion in patient.history_lesions for image in lesion.images.all()]
    prefetch_related_objects(images, Prefetch("predictions", queryset=predictions))
    outliers = lesion_outliers(patient_ids=[patient.pk])
    for lesion in patient.history_lesions:
        lesion.outlier = outliers.get(lesion.pk)
    return patient


def image_get(*, user, image_id, audit: bool = True) -> LesionImage:
    image = record_selectors.image_get(user=user, image_id=image_id, audit=audit)
    prefetch_related_objects(
        [image], Prefetch("predictions", queryset=Prediction.objects.select_related("model_version"))
    )
    return image


@dataclass(frozen=True)
class LesionOutlier:
    """One lesion's within-patient dissimilarity (``classifier.inference.ood.lesion_outlier_scores``)."""

    score: float
    rank: int  # 1: the patient's most dissimilar lesion
    lesions: int  # how many of the patient's lesions were compared
    image_id: int
    model_version_id: int
    prediction_id: int  # the result whose embedding was compared


def lesion_outliers(*, patient_ids) -> dict[int, LesionOutlier]:
    """lesion id → its outlier score among its patient's lesions, computed on read.

    Each lesion is represented by its newest image with a finished prediction that stored an
    embedding; embeddings of different model versions are not comparable, so per patient the version
    covering the most lesions is used (ties: the newest). Patients with fewer than
    ``MIN_OUTLIER_LESIONS`` such lesions get nothing. The caller has already scoped ``patient_ids``
    to the user's clinic and audits the read.
    """
    rows = (
        Prediction.objects.filter(
            image__lesion__patient_id__in=list(patient_ids),
            status=Prediction.Status.DONE,
            embedding__isnull=False,
        )
        .order_by("-image__uploaded_at", "-image_id", "-created_at", "-id")
        .values_list("id", "image_id", "image__lesion_id", "image__lesion__patient_id", "model_version_id")
    )
    # (patient, version) → lesion → (prediction, image): the first row seen is the newest.
    chosen: dict[tuple[int, int], dict[int, tuple[int, int]]] = defaultdict(dict)
    for prediction_id, image_id, lesion_id, patient_id, version_id in rows:
        chosen[(patient_id, version_id)].setdefault(lesion_id, (prediction_id, image_id))
    best: dict[int, tuple[int, dict[int, tuple[int, int]]]] = {}
    for (patient_id, version_id), lesions in chosen.items():
        current = best.get(patient_id)
        if current is None or (len(lesions), version_id) > (len(current[1]), current[0]):
            best[patient_id] = (version_id, lesions)
    wanted = {
        prediction_id
        for _, lesions in best.values()
        if len(lesions) >= MIN_OUTLIER_LESIONS
        for prediction_id, _ in lesions.values()
    }
    embeddings = {
        pk: np.frombuffer(bytes(blob), dtype="<f4")
        for pk, blob in Prediction.objects.filter(pk__in=wanted).values_list("id", "embedding")
    }
    result: dict[int, LesionOutlier] = {}
    for version_id, lesions in best.values():
        scores = lesion_outlier_scores({lid: embeddings[pid] for lid, (pid, _) in lesions.items() if pid in embeddings})
        ranked = sorted(scores, key=lambda lid: scores[lid], reverse=True)
        for rank, lesion_id in enumerate(ranked, start=1):
            result[lesion_id] = LesionOutlier(
                score=scores[lesion_id],
                rank=rank,
                lesions=len(scores),
                image_id=lesions[lesion_id][1],
                model_version_id=version_id,
                prediction_id=lesions[lesion_id][0],
            )
    return result
