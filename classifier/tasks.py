"""Celery tasks: take ids, load, call the engine, hand the result to a service.

Delivery is at-least-once (acks_late, reject_on_worker_lost). What makes it exactly-once in effect:
one Prediction row per image and version, results written only to a running row, and — on
PostgreSQL — a session advisory lock per prediction while it is analysed, so a duplicate delivery
of a job that a live worker holds is dropped, while the redelivery of a job whose worker died
(its connection, and so its lock, gone with it) runs."""

import logging
import os
import socket
import threading
from contextlib import contextmanager

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError, connection, transaction

from portal.records.jpeg import with_orientation

from . import services
from .model_store import model_files_local
from .models import ModelVersion, Prediction

logger = logging.getLogger(__name__)

_WORKER = f"{socket.gethostname()}:{os.getpid()}"
_engines: dict[int, object] = {}
_engines_lock = threading.Lock()


def engine_for(version: ModelVersion):
    """The model, loaded once per worker process (after fork) and cached by version; the artifact's
    sha256 is checked on load and a mismatch refuses to serve."""
    from .inference.engine import Engine

    with _engines_lock:
        engine = _engines.get(version.pk)
        if engine is None:
            # This machine's copy, or one fetched from the model storage by sha256 (classifier/model_store.py).
            artifact_path, onnx_path = model_files_local(version)
            engine = Engine.from_artifact(
                artifact_path,
                sha256=version.sha256,
                onnx_path=onnx_path,
                onnx_sha256=version.onnx_sha256 or None,
            )
            _engines[version.pk] = engine
            logger.info("worker %s loaded model version %s", _WORKER, version.pk)
        return engine


def _read_image(prediction: Prediction) -> bytes:
    """The stored file with its orientation, which the decoder applies as it does for any EXIF."""
    with prediction.image.file.open("rb") as fh:
        return with_orientation(fh.read(), prediction.image.orientation)


def _analyse(claimed: list[Prediction]) -> None:
    by_version: dict[int, list[Prediction]] = {}
    for prediction in claimed:
        by_version.setdefault(prediction.model_version_id, []).append(prediction)
    for group in by_version.values():
        version = group[0].model_version
        try:
            engine = engine_for(version)
        except Exception as exc:  # noqa: BLE001 — a model that cannot be served fails its jobs, clearly
            logger.exception("model version %s cannot be served", version.pk)
            for prediction in group:
                services.prediction_fail(prediction=prediction, reason=f"The model could not be loaded: {exc}")
            continue
        sources, readable = [], []
        for prediction in group:
            try:
                sources.append(_read_image(prediction))
                readable.append(prediction)
            except OSError:
                services.prediction_fail(prediction=prediction, reason="The stored image could not be read.")
        if not readable:
            continue
        # Only a version with a fusion head reads the patient's and lesion's metadata.
        metadata = [services.prediction_metadata(prediction=p) for p in readable] if engine.fusion else None
        results = engine.analyse(sources, metadata, render_heatmaps=False)
        # One transaction for the chunk's results, written together (a fixed number of queries whatever the
        # chunk's size), and one look at each batch's completion after it.
        with transaction.atomic():
            for prediction, result in zip(readable, results, strict=True):
                if result.error:
                    services.prediction_fail(prediction=prediction, reason=result.error, finish_batch=False)
            services.predictions_store_results(
                stored=[(p, result) for p, result in zip(readable, results, strict=True) if not result.error]
            )
        for batch_id in {p.batch_id for p in readable if p.batch_id}:
            services.batch_finish_if_complete(batch_id)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.NAEVUS_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.NAEVUS_TASK_TIME_LIMIT,
    max_retries=5,
)
def predict(self, prediction_ids: list[int]):
    """Analyses a small chunk of predictions together. A job that was already running when its
    worker died is a suspect (it may be the cause): suspects are claimed and run one at a time, each
    committed before the next, so a poison image only ever takes itself down — and the suspects
    behind it in the chunk spend no attempt until their own turn comes."""
    with _locks(prediction_ids) as held:
        try:
            running = set(
                Prediction.objects.filter(pk__in=held, status=Prediction.Status.RUNNING).values_list("pk", flat=True)
            )
            for pid in (pid for pid in held if pid in running):
                claimed = services.prediction_claim(prediction_id=pid, worker=_WORKER)
                if claimed is not None:
                    _analyse([claimed])
            fresh = services.predictions_claim_fresh(
                prediction_ids=[pid for pid in held if pid not in running], worker=_WORKER
            )
            if fresh:
                _analyse(fresh)
        except SoftTimeLimitExceeded:
            for prediction in _running(held):
                services.prediction_fail(prediction=prediction, reason="Analysis took too long and was stopped.")
        except OperationalError as exc:
            # The database went away for a moment: put the jobs back and retry with backoff.
            for prediction in _running(held):
                services.prediction_release(prediction=prediction)
            raise self.retry(exc=exc, countdown=min(60, 2 ** (self.request.retries + 1))) from exc


def _running(prediction_ids: list[int]) -> list[Prediction]:
    return list(Prediction.objects.filter(pk__in=prediction_ids, status=Prediction.Status.RUNNING))


@contextmanager
def _locks(prediction_ids: list[int]):
    """Session advisory locks on the chunk's predictions, taken and released in one statement each: a duplicate
    delivery of a job another worker holds is dropped, never run twice at once."""
    if connection.vendor != "postgresql":
        yield list(prediction_ids)
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM unnest(%s::bigint[]) WITH ORDINALITY AS chunk(id, n) WHERE pg_try_advisory_lock(id) "
            "ORDER BY n",
            [list(prediction_ids)],
        )
        held = [row[0] for row in cursor.fetchall()]
    for pid in sorted(set(prediction_ids) - set(held)):
        logger.info("prediction %s is held by another worker; duplicate delivery dropped", pid)
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(id) FROM unnest(%s::bigint[]) AS held(id)", [held])


@shared_task(ignore_result=True)
def sweep():
    return services.predictions_sweep()
