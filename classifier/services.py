"""Predictions, model versions and batches: the classifier's writes.

The database is the source of truth. A Prediction row is the job (queued → running → done/failed)
and its result, unique per image and model version, so a duplicated or replayed delivery can never
produce a second prediction. The broker is only transport: a publish that fails leaves the row
queued for the sweeper."""

import hashlib
import logging
import shutil
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError

from .heatmaps import cam_pack
from .inference.artifact import (
    ARTIFACT_NAME,
    ArtifactFormatError,
    served_metrics,
    served_threshold,
    sha256_file,
    validate_meta,
)
from .inference.fusion import Metadata
from .model_store import model_files_publish
from .models import (
    BatchJob,
    BatchRejectedFile,
    ModelVersion,
    Prediction,
    lesion_latest_refresh,
    patient_outliers_refresh,
)
from .operating_points import operating_point_active, risk_decide
from .signals import batch_finished, prediction_finished, send_after_commit

logger = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory-lock key that serialises model registration on PostgreSQL.
_REGISTRY_LOCK_KEY = 7_246_119_001


def model_version_active() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def _chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def predictions_publish(prediction_ids: list[int]) -> bool:
    """Sends the ids to the inference queue in small chunks. Never raises: if the broker is down the
    rows stay queued and the sweeper publishes them again once it is back."""
    from .tasks import predict

    chunk = max(1, settings.NAEVUS_INFERENCE_CHUNK)
    try:
        for ids in _chunks(list(prediction_ids), chunk):
            predict.apply_async(args=[ids], queue="inference", retry=True)
    except Exception:  # noqa: BLE001 — any broker failure means the same thing here
        logger.warning("broker unavailable; %d prediction(s) stay queued for the sweeper", len(prediction_ids))
        return False
    return True


def _publish_on_commit(ids: list[int]) -> None:
    if ids:
        transaction.on_commit(partial(predictions_publish, ids), robust=True)


def predictions_request(*, user, images, model_version: ModelVersion | None = None, batch: BatchJob | None = None):
    """Creates (or finds) one queued prediction per image for the version and publishes them after
    the surrounding transaction commits. Without an active model, images wait with no prediction."""
    version = model_version or (batch.model_version if batch else None) or model_version_active()
    if version is None:
        logger.warning("no active model version; %d image(s) stored without a prediction", len(images))
        return []
    now = timezone.now()
    rows = [
        Prediction(
            image=image,
            clinic_id=image.clinic_id,
            model_version=version,
            batch=batch,
            requested_by=user,
            image_sha256=image.sha256,
            threshold=version.threshold,
            queued_at=now,
        )
        for image in images
    ]
    Prediction.objects.bulk_create(rows, ignore_conflicts=True)
    created = list(Prediction.objects.filter(image__in=[i.pk for i in images], model_version=version).order_by("id"))
    _publish_on_commit([p.pk for p in created if p.status == Prediction.Status.QUEUED])
    return created


def prediction_rerun(*, user, image, model_version: ModelVersion) -> Prediction:
    """Runs an image under another version. Old predictions are never overwritten; asking again for a
    version that already has a prediction returns it (or re-queues it if it failed)."""
    with transaction.atomic():
        prediction, created = Prediction.objects.select_for_update().get_or_create(
            image=image,
            model_version=model_version,
            defaults={
                "requested_by": user,
                "image_sha256": image.sha256,
                "threshold": model_version.threshold,
                "queued_at": timezone.now(),
            },
        )
        if not created and prediction.status == Prediction.Status.FAILED:
            prediction.status = Prediction.Status.QUEUED
            prediction.attempts = 0
            prediction.error = ""
            prediction.queued_at = timezone.now()
            prediction.save(update_fields=["status", "attempts", "error", "queued_at"])
        audit_record(
            user=user,
            action=Action.EXECUTE,
            object_type="prediction",
            object_id=prediction.pk,
            patient_id=image.lesion.patient_id if image.lesion_id else None,
        )
        if prediction.status == Prediction.Status.QUEUED:
            _publish_on_commit([prediction.pk])
    return prediction


# --- the worker side -------------------------------------------------------------------------


def prediction_claim(*, prediction_id: int, worker: str) -> Prediction | None:
    """Marks a queued (or crashed-while-running) prediction as running and counts the attempt.
    Returns None when there is nothing to do: finished, cancelled, or over the redelivery cap
    (then it is failed here, with the reason)."""
    with transaction.atomic():
        prediction = (
            Prediction.objects.select_for_update(of=("self", "image", "model_version"))
            # The lesion and patient come along for the fusion head's fields; a bulk image may have no
            # lesion (an outer join), which PostgreSQL refuses to lock, so they are read, not locked.
            .select_related("image__lesion__patient", "model_version")
            .filter(pk=prediction_id)
            .first()
        )
        if prediction is None or prediction.status not in (Prediction.Status.QUEUED, Prediction.Status.RUNNING):
            return None
        now = timezone.now()
        if prediction.attempts >= settings.NAEVUS_MAX_ATTEMPTS:
            prediction.status = Prediction.Status.FAILED
            prediction.error = (
                f"Analysis stopped after {prediction.attempts} attempts: the worker failed each time on this image."
            )
            prediction.finished_at = now
            prediction.save(update_fields=["status", "error", "finished_at"])
            logger.error("prediction %s failed after %d attempts", prediction.pk, prediction.attempts)
            # It may be the batch's last open job (tests/reliability/test_faults.py, item 8).
            _batch_maybe_finish(prediction.batch_id)
            return None
        prediction.status = Prediction.Status.RUNNING
        prediction.attempts = F("attempts") + 1
        if prediction.started_at is None and prediction.queued_at:
            prediction.queue_ms = (now - prediction.queued_at).total_seconds() * 1000
        prediction.started_at = now
        prediction.worker = worker[:200]
        prediction.save(update_fields=["status", "attempts", "queue_ms", "started_at", "worker"])
        prediction.refresh_from_db(fields=["attempts"])
        return prediction


def predictions_claim_fresh(*, prediction_ids: list[int], worker: str) -> list[Prediction]:
    """Claims a chunk of queued jobs in one transaction (one SELECT … FOR UPDATE and one UPDATE)
    rather than one commit per image; jobs at the attempt cap go through `prediction_claim`, which
    fails them with the reason."""
    now = timezone.now()
    cap = settings.NAEVUS_MAX_ATTEMPTS
    with transaction.atomic():
        rows = list(
            Prediction.objects.select_for_update(of=("self", "image", "model_version"))
            # The lesion and patient come along for the fusion head's fields; a bulk image may have no
            # lesion (an outer join), which PostgreSQL refuses to lock, so they are read, not locked.
            .select_related("image__lesion__patient", "model_version")
            .filter(pk__in=prediction_ids, status=Prediction.Status.QUEUED, attempts__lt=cap)
            .order_by("pk")
        )
        for prediction in rows:
            prediction.status = Prediction.Status.RUNNING
            prediction.attempts += 1
            if prediction.started_at is None and prediction.queued_at:
                prediction.queue_ms = (now - prediction.queued_at).total_seconds() * 1000
            prediction.started_at = now
            prediction.worker = worker[:200]
        Prediction.objects.bulk_update(rows, ["status", "attempts", "queue_ms", "started_at", "worker"])
    claimed_ids = {p.pk for p in rows}
    over_cap = Prediction.objects.filter(
        pk__in=[pid for pid in prediction_ids if pid not in claimed_ids], status=Prediction.Status.QUEUED
    ).values_list("pk", flat=True)
    for pid in over_cap:
        prediction_claim(prediction_id=pid, worker=worker)
    return rows


def prediction_metadata(*, prediction: Prediction) -> Metadata:
    """What the version's fusion head may use about this image's patient and lesion (claimed rows
    come with them joined): age at capture (else upload), sex, anatomic site; unknown → None. Read
    by the worker for its own job only, and never logged (values are PHI; log ids)."""
    image = prediction.image
    lesion = image.lesion
    if lesion is None:
        return Metadata()
    patient = lesion.patient
    taken = image.captured_at or image.uploaded_at or timezone.now()
    return Metadata.normalised(
        age=taken.year - patient.birth_year if patient.birth_year else None,
        sex=patient.sex,
        site=lesion.anatomic_site,
    )


def _result_fields(*, prediction: Prediction, result, decision, heatmap_name: str, now) -> dict:
    """The columns a finished analysis sets: one definition for one result and for a chunk's."""
    probability = float(result.probability)
    # The worker stores the CAM (a few dozen bytes); the overlay is rendered on its first request
    # (classifier/heatmaps.py). A result that brings a rendered PNG has it stored as before.
    cam = cam_pack(result.cam) if result.cam is not None and not result.heatmap_png else None
    return dict(
        status=Prediction.Status.DONE,
        melanoma_probability=decision.probability,
        model_probability=probability,
        image_probability=None if result.image_probability is None else float(result.image_probability),
        metadata_used=result.metadata_used,
        raw_score=float(result.raw_score),
        class_probabilities={name: float(p) for name, p in result.class_probs.items()} if result.class_probs else None,
        risk_category=Prediction.Risk.REFER if decision.probability >= decision.threshold else Prediction.Risk.ROUTINE,
        threshold=decision.threshold,
        operating_point=decision.operating_point,
        heatmap=heatmap_name,
        cam=cam,
        quality_reasons=list(result.quality.reasons) if result.quality else [],
        quality_measures=result.quality.measures.to_dict() if result.quality else None,
        quality_dismissed_at=None,
        quality_dismissed_by=None,
        decode_ms=result.decode_ms,
        inference_ms=result.inference_ms,
        quality_ms=result.quality_ms if result.quality else None,
        ood_score=result.ood_score,
        ood_flag=result.ood_flag,
        embedding=None if result.embedding is None else np.asarray(result.embedding, dtype="<f4").tobytes(),
        error="",
        finished_at=now,
    )


def _heatmap_save(*, prediction: Prediction, result) -> str:
    if not result.heatmap_png:
        return ""
    return prediction.heatmap.storage.save(
        f"heatmaps/{prediction.image.clinic_id}/{prediction.pk}-{hashlib.sha256(result.heatmap_png).hexdigest()[:16]}.png",
        ContentFile(result.heatmap_png),
    )


def prediction_store_result(*, prediction: Prediction, result, finish_batch: bool = True) -> bool:
    """Stores a finished analysis. Idempotent: only a running prediction takes a result. A worker's chunk
    stores all of its results at once (`predictions_store_results`)."""
    version = prediction.model_version
    decision = risk_decide(
        clinic_id=prediction.image.clinic_id, model_version=version, probability=float(result.probability)
    )
    heatmap_name = _heatmap_save(prediction=prediction, result=result)
    fields = _result_fields(
        prediction=prediction, result=result, decision=decision, heatmap_name=heatmap_name, now=timezone.now()
    )
    updated = Prediction.objects.filter(pk=prediction.pk, status=Prediction.Status.RUNNING).update(**fields)
    if not updated and heatmap_name:
        prediction.heatmap.storage.delete(heatmap_name)
    if updated:
        lesion_latest_refresh(lesion_ids=[prediction.image.lesion_id])
        patient_outliers_refresh(lesion_ids=[prediction.image.lesion_id])
        send_after_commit(prediction_finished, prediction_id=prediction.pk)
    if finish_batch:
        _batch_maybe_finish(prediction.batch_id)
    return bool(updated)


def predictions_store_results(*, stored: list[tuple[Prediction, object]]) -> list[Prediction]:
    """Stores a chunk's finished analyses (issue #16 item 3) with a fixed number of queries whatever the chunk's
    size: the rows still running are locked in one statement and written in one (`bulk_update`), each clinic's
    operating point is read once, the lesions' current-result flags and the patients' outlier scores are
    refreshed once for the whole chunk. The same columns as `prediction_store_result` (`_result_fields`), the
    same idempotency (only a running prediction takes a result). Runs in one transaction; the caller finishes
    the batches. Returns the predictions that took their result."""
    if not stored:
        return []
    now = timezone.now()
    # No savepoint inside a caller's transaction (a round trip each way; a failure fails the caller anyway).
    with transaction.atomic(savepoint=False):
        running = set(
            Prediction.objects.select_for_update()
            .filter(pk__in=[p.pk for p, _ in stored], status=Prediction.Status.RUNNING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        points: dict[tuple[int, int], object] = {}
        taken: list[Prediction] = []
        names = None
        for prediction, result in stored:
            if prediction.pk not in running:
                continue
            key = (prediction.image.clinic_id, prediction.model_version_id)
            if key not in points:
                points[key] = operating_point_active(clinic_id=key[0], model_version=prediction.model_version)
            decision = risk_decide(
                clinic_id=key[0],
                model_version=prediction.model_version,
                probability=float(result.probability),
                point=points[key],
            )
            fields = _result_fields(
                prediction=prediction,
                result=result,
                decision=decision,
                heatmap_name=_heatmap_save(prediction=prediction, result=result),
                now=now,
            )
            for name, value in fields.items():
                setattr(prediction, name, value)
            names = list(fields)
            taken.append(prediction)
        if taken:
            Prediction.objects.bulk_update(taken, names)
            lesion_ids = [p.image.lesion_id for p in taken]
            lesion_latest_refresh(lesion_ids=lesion_ids)
            patient_outliers_refresh(lesion_ids=lesion_ids)
        for prediction in taken:
            send_after_commit(prediction_finished, prediction_id=prediction.pk)
    return taken


def prediction_quality_dismiss(*, user, prediction: Prediction) -> Prediction:
    """The clinician has looked at a "retake advised" image and accepts it as it is. The reasons
    stay on record; only the advice is marked as dismissed, by whom and when."""
    if not prediction.quality_reasons:
        raise ApplicationError("This image has no quality advice to dismiss.", code="no_quality_advice", status=409)
    with transaction.atomic():
        if prediction.quality_dismissed_at is None:
            prediction.quality_dismissed_at = timezone.now()
            prediction.quality_dismissed_by = user
            prediction.save(update_fields=["quality_dismissed_at", "quality_dismissed_by"])
        audit_record(
            user=user,
            action=Action.EXECUTE,
            object_type="prediction_quality_dismiss",
            object_id=prediction.pk,
            patient_id=prediction.image.lesion.patient_id if prediction.image.lesion_id else None,
        )
    return prediction


def prediction_fail(*, prediction: Prediction, reason: str, finish_batch: bool = True) -> None:
    Prediction.objects.filter(pk=prediction.pk, status=Prediction.Status.RUNNING).update(
        status=Prediction.Status.FAILED, error=reason[:1000], finished_at=timezone.now()
    )
    if finish_batch:
        _batch_maybe_finish(prediction.batch_id)


def prediction_release(*, prediction: Prediction) -> None:
    """Back to queued after a transient error (the task retries with backoff)."""
    Prediction.objects.filter(pk=prediction.pk, status=Prediction.Status.RUNNING).update(
        status=Prediction.Status.QUEUED, queued_at=timezone.now()
    )


def predictions_sweep(*, stale_after: timedelta | None = None) -> int:
    """Re-publishes what the broker may have lost: queued rows not picked up for a while, and running
    rows whose worker must be gone (older than the hard time limit)."""
    stale_after = stale_after or timedelta(seconds=settings.NAEVUS_SWEEP_STALE_SECONDS)
    now = timezone.now()
    running_cutoff = now - timedelta(seconds=settings.NAEVUS_TASK_TIME_LIMIT + 30)
    with transaction.atomic():
        Prediction.objects.filter(status=Prediction.Status.RUNNING, started_at__lt=running_cutoff).update(
            status=Prediction.Status.QUEUED, queued_at=now - stale_after - timedelta(seconds=1)
        )
        ids = list(
            Prediction.objects.filter(status=Prediction.Status.QUEUED)
            .filter(Q(queued_at__lt=now - stale_after) | Q(queued_at__isnull=True))
            .values_list("pk", flat=True)[:5000]
        )
        Prediction.objects.filter(pk__in=ids).update(queued_at=now)
    if ids:
        logger.info("sweeper re-publishing %d prediction(s)", len(ids))
        predictions_publish(ids)
    return len(ids)


# --- model registry --------------------------------------------------------------------------


@contextmanager
def registry_lock():
    """Serialises registrations and activations across processes (PostgreSQL advisory lock; SQLite
    serialises writers by itself)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_REGISTRY_LOCK_KEY])
        yield


def model_version_register(
    *,
    artifact_path: str,
    sha256: str,
    meta: dict,
    plots: dict[str, str] | None = None,
    is_demo: bool = False,
    activate_if_better: bool = False,
    activate: bool = False,
    notes: str = "",
) -> ModelVersion:
    """Copies a serving artifact into the model store (checking its sha256 and its meta), exports and
    checks its ONNX twin, and records it with its metrics and plots: inactive unless asked. An artifact
    must carry its own threshold and preprocessing: nothing is filled in with a default."""
    from .inference.engine import prepare_onnx

    try:
        validate_meta(meta)
    except ArtifactFormatError as exc:
        raise ApplicationError(f"Not a valid model artifact: {exc}", code="invalid_artifact") from exc
    source = Path(artifact_path)
    if sha256_file(source) != sha256:
        raise ApplicationError("The artifact's sha256 does not match; refusing to register it.", code="sha256_mismatch")
    name, version = str(meta["name"]), str(meta["version"])
    folder = Path(settings.MODEL_STORE) / f"{name}-{version}-{sha256[:12]}".replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ARTIFACT_NAME
    if not target.exists() or sha256_file(target) != sha256:
        shutil.copyfile(source, folder / f"{ARTIFACT_NAME}.tmp")
        (folder / f"{ARTIFACT_NAME}.tmp").replace(target)
    onnx_path = folder / "model.onnx"
    onnx_sha256 = prepare_onnx(str(target), str(onnx_path), sha256=sha256)
    stored_plots = {}
    for plot_name, plot_path in (plots or {}).items():
        file_name = f"{Path(plot_name).stem}.png"
        shutil.copyfile(plot_path, folder / file_name)
        stored_plots[Path(plot_name).stem] = file_name
    model_files_publish(folder, [ARTIFACT_NAME, onnx_path.name, *stored_plots.values()])
    with registry_lock():
        if ModelVersion.objects.filter(name=name, version=version).exists():
            raise ApplicationError(f"Model {name} {version} is already registered.", code="duplicate_version")
        model_version = ModelVersion.objects.create(
            name=name,
            version=version,
            arch=meta["arch"],
            img_size=int(meta["preprocess"]["img_size"]),
            preprocess=meta["preprocess"],
            class_names=list(meta["class_names"]),
            melanoma_index=int(meta["melanoma_index"]),
            # With a metadata fusion head, decisions are taken on the fused probability and its threshold.
            threshold=served_threshold(meta),
            calibration=meta["calibration"],
            # With one, also the fused figures (`served_metrics`), which `val_auc` then compares by.
            metrics=served_metrics(meta),
            plots=stored_plots,
            artifact_path=str(target),
            sha256=sha256,
            onnx_path=str(onnx_path),
            onnx_sha256=onnx_sha256,
            is_demo=bool(is_demo or meta["is_demo"]),
            notes=notes,
        )
        active = model_version_active()
        better = active is None or (
            model_version.val_auc is not None and (active.val_auc is None or model_version.val_auc > active.val_auc)
        )
        if activate or (activate_if_better and better):
            model_version_activate(model_version=model_version)
    logger.info("registered model version %s (active=%s)", model_version.pk, model_version.is_active)
    return model_version


def model_version_activate(*, model_version: ModelVersion, user=None) -> ModelVersion:
    """Exactly one active version: the previous one is deactivated in the same transaction. Also
    the way to roll back: activate the older version."""
    with registry_lock():
        ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
        model_version.is_active = True
        model_version.activated_at = timezone.now()
        model_version.save(update_fields=["is_active", "activated_at"])
        if user is not None:
            audit_record(
                user=user, action=Action.EXECUTE, object_type="model_version_activate", object_id=model_version.pk
            )
    logger.info("model version %s activated", model_version.pk)
    return model_version


# --- batches ---------------------------------------------------------------------------------


def _batch_maybe_finish(batch_id: int | None) -> None:
    if batch_id is None:
        return
    pending = Prediction.objects.filter(
        batch_id=batch_id, status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING]
    ).exists()
    # A batch is committed in chunks while its archive is read: not finished until every file is in.
    arrived = (
        Prediction.objects.filter(batch_id=batch_id).count()
        + BatchRejectedFile.objects.filter(batch_id=batch_id).count()
    )
    if not pending and arrived >= BatchJob.objects.filter(pk=batch_id).values_list("total", flat=True).first():
        if BatchJob.objects.filter(pk=batch_id, status=BatchJob.Status.RUNNING).update(
            status=BatchJob.Status.DONE, finished_at=timezone.now()
        ):
            send_after_commit(batch_finished, batch_id=batch_id)


def batch_finish_if_complete(batch_id: int) -> None:
    _batch_maybe_finish(batch_id)


def batch_cancel(*, user, batch: BatchJob) -> BatchJob:
    with transaction.atomic():
        Prediction.objects.filter(batch=batch, status=Prediction.Status.QUEUED).update(
            status=Prediction.Status.CANCELLED, finished_at=timezone.now()
        )
        BatchJob.objects.filter(pk=batch.pk, status=BatchJob.Status.RUNNING).update(
            status=BatchJob.Status.CANCELLED, finished_at=timezone.now()
        )
        audit_record(user=user, action=Action.EXECUTE, object_type="batch_cancel", object_id=batch.pk)
    batch.refresh_from_db()
    return batch


def batch_retry(*, user, batch: BatchJob) -> BatchJob:
    """Re-queues the failed images of a batch. Cancelled ones stay cancelled: a cancel is the
    clinician's decision, and "retry failed" is what the SPA offers and the API documents."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(Prediction.objects.filter(batch=batch, status=Prediction.Status.FAILED).values_list("pk", flat=True))
        Prediction.objects.filter(pk__in=ids).update(
            status=Prediction.Status.QUEUED, attempts=0, error="", queued_at=now, started_at=None, finished_at=None
        )
        if ids:
            BatchJob.objects.filter(pk=batch.pk).update(status=BatchJob.Status.RUNNING, finished_at=None)
        audit_record(user=user, action=Action.EXECUTE, object_type="batch_retry", object_id=batch.pk)
        _publish_on_commit(ids)
    batch.refresh_from_db()
    return batch
