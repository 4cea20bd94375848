"""End to end through a real Celery worker process on the local Redis and PostgreSQL."""

import csv
import io
import os
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.models import BatchJob, Prediction
from classifier.services import predictions_sweep
from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, PatientFactory

from .conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def lesion_jpeg(seed: int, size=(200, 150)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(120, 220, size=(size[1], size[0], 3), dtype=np.uint8)
    yy, xx = np.mgrid[: size[1], : size[0]]
    cx, cy = rng.integers(40, size[0] - 40), rng.integers(30, size[1] - 30)
    arr[(xx - cx) ** 2 + (yy - cy) ** 2 < 25**2] = (60, 35, 25)
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="JPEG", quality=90)
    return out.getvalue()


def make_zip(n: int, *, extra: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"img_{i:04d}.jpg", lesion_jpeg(i))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def _done(ids):
    return lambda: Prediction.objects.filter(pk__in=ids, status="done").count() == len(ids)


def test_an_uploaded_image_gets_its_prediction_and_heatmap_from_a_real_worker(
    as_user, alice, clinic_a, tiny_model, worker
):
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    api = as_user(alice)
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("a.jpg", lesion_jpeg(1), "image/jpeg")]},
        format="multipart",
    )
    assert response.status_code == 202
    prediction_url = response.json()["images"][0]["predictions"][0]["url"]
    body = wait_for(
        lambda: (b := api.get(prediction_url).json())["status"] == "done" and b,
        timeout=90,
        message="the prediction (worker log: see below)",
    )
    assert 0.0 <= body["melanoma_probability"] <= 1.0
    assert body["risk_category"] in ("refer", "routine")
    assert body["model_version"]["id"] == tiny_model.pk and body["model_version"]["is_demo"] is True
    assert body["attempts"] == 1
    assert body["timings"]["inference_ms"] > 0
    prediction = Prediction.objects.get(pk=body["id"])
    assert prediction.image_sha256 == LesionImage.objects.get().sha256
    assert prediction.worker
    heatmap = api.get(body["heatmap_url"])
    assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/png"
    png = b"".join(heatmap.streaming_content)
    assert Image.open(io.BytesIO(png)).size == (64, 64)


def test_an_image_with_exif_orientation_6_is_analysed_turned_like_its_turned_pixels(
    as_user, alice, clinic_a, tiny_model, worker
):
    """The stored JPEG keeps its pixels as sent and its orientation as data: the worker must see the
    image turned, exactly as a lossless (PNG) upload of the turned pixels, and not as it is stored."""
    raw = lesion_jpeg(7, size=(200, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # display turned 90° clockwise
    with Image.open(io.BytesIO(raw)) as img:
        pixels = np.asarray(img)
        tagged, turned = io.BytesIO(), io.BytesIO()
        img.save(tagged, "JPEG", quality=90, exif=exif)
    Image.fromarray(np.rot90(np.asarray(Image.open(tagged)), k=-1)).save(turned, "PNG")
    assert np.asarray(Image.open(turned)).shape == (200, 120, 3) and pixels.shape == (120, 200, 3)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    api = as_user(alice)
    files = [
        SimpleUploadedFile("tagged.jpg", tagged.getvalue(), "image/jpeg"),
        SimpleUploadedFile("turned.png", turned.getvalue(), "image/png"),
        SimpleUploadedFile("upright.jpg", raw, "image/jpeg"),
    ]
    response = api.post(f"/api/v1/lesions/{lesion.pk}/images/", {"files": files}, format="multipart")
    assert response.status_code == 202, response.content
    urls = [image["predictions"][0]["url"] for image in response.json()["images"]]
    wait_for(lambda: all(api.get(u).json()["status"] == "done" for u in urls), timeout=120, message="3 predictions")
    tagged_body, turned_body, upright_body = (api.get(u).json() for u in urls)
    assert LesionImage.objects.get(pk=tagged_body["image_id"]).orientation == 6
    assert tagged_body["melanoma_probability"] == pytest.approx(turned_body["melanoma_probability"], abs=1e-6)
    assert tagged_body["melanoma_probability"] != pytest.approx(upright_body["melanoma_probability"], abs=1e-6)
    heatmaps = [b"".join(api.get(b["heatmap_url"]).streaming_content) for b in (tagged_body, turned_body)]
    assert np.array_equal(*(np.asarray(Image.open(io.BytesIO(h))) for h in heatmaps))


def test_the_worker_marks_a_blurred_real_image_retake_advised_and_not_its_sharp_original(
    as_user, alice, clinic_a, worker, transactional_db, tmp_path
):
    """Through the real path: upload → Celery worker (the gate beside inference) → stored → API → CSV.
    A 224 px tiny model, so the gate sees the crop its thresholds were measured on."""
    from classifier.inference.degrade import gaussian_blur
    from classifier.inference.testing import SAMPLES, make_tiny_artifact
    from classifier.services import model_version_register

    sha256, meta = make_tiny_artifact(tmp_path / "tiny224.naevus.pt", img_size=224)
    model_version_register(artifact_path=str(tmp_path / "tiny224.naevus.pt"), sha256=sha256, meta=meta, activate=True)
    sharp = (SAMPLES / "ISIC_0024647.jpg").read_bytes()
    buf = io.BytesIO()
    Image.fromarray(gaussian_blur(np.asarray(Image.open(io.BytesIO(sharp))), sigma_fraction=0.02)).save(buf, "JPEG")
    api = as_user(alice)
    batch = api.post(
        "/api/v1/batches/",
        {
            "files": [
                SimpleUploadedFile(n, d, "image/jpeg")
                for n, d in (("sharp.jpg", sharp), ("blurred.jpg", buf.getvalue()))
            ]
        },
        format="multipart",
    ).json()
    wait_for(
        lambda: api.get(f"/api/v1/batches/{batch['id']}/").json()["status"] == "done", timeout=120, message="the batch"
    )
    rows = {r["file_name"]: r for r in api.get(f"/api/v1/batches/{batch['id']}/results/").json()["results"]}
    assert rows["blurred.jpg"]["status"] == "done" and rows["blurred.jpg"]["melanoma_probability"] is not None
    assert rows["blurred.jpg"]["quality_reasons"] == ["blurred"]
    assert rows["blurred.jpg"]["quality_label"] == "quality: retake advised (blurred)"
    assert rows["sharp.jpg"]["quality_reasons"] == [] and rows["sharp.jpg"]["quality_label"] is None
    blurred = api.get(f"/api/v1/predictions/{rows['blurred.jpg']['prediction_id']}/").json()
    assert blurred["quality"]["ok"] is False and blurred["quality"]["measures"]["sharpness"] < 2.7
    assert blurred["timings"]["quality_ms"] > 0
    csv_rows = {
        r["file_name"]: r
        for r in csv.DictReader(io.StringIO(api.get(f"/api/v1/batches/{batch['id']}/results.csv").content.decode()))
    }
    assert csv_rows["blurred.jpg"]["quality"] == "quality: retake advised (blurred)"
    assert csv_rows["sharp.jpg"]["quality"] == ""


def test_a_200_image_zip_completes_with_visible_progress(as_user, alice, clinic_a, tiny_model, worker_env, tmp_path):
    from .conftest import WorkerProcess

    api = as_user(alice)
    archive = make_zip(200, extra={"notes.txt": b"not an image", "broken.jpg": lesion_jpeg(999)[:500]})
    created = api.post(
        "/api/v1/batches/",
        {"archive": SimpleUploadedFile("batch.zip", archive, "application/zip"), "name": "t"},
        format="multipart",
    )
    assert created.status_code == 202, created.json()
    batch_id = created.json()["id"]
    assert created.json()["total"] == 202
    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        seen_progress = set()

        def finished():
            b = api.get(f"/api/v1/batches/{batch_id}/").json()
            seen_progress.add(b["done"])
            return b["status"] == "done" and b

        body = wait_for(finished, timeout=240, interval=0.5, message="the batch")
    finally:
        worker.stop()
    assert body["done"] == 200 and body["failed"] == 2 and body["queued"] == 0 and body["running"] == 0
    assert body["rate_per_min"] > 0
    assert len(seen_progress) > 1, "progress should be visible while the batch runs"
    results, url = [], f"/api/v1/batches/{batch_id}/results/?page_size=100"
    while url:
        page = api.get(url).json()
        results += page["results"]
        url = page["next"]
    assert len(results) == 202
    probabilities = [r["melanoma_probability"] for r in results if r["status"] == "done"]
    assert probabilities == sorted(probabilities, reverse=True)
    failed = {r["file_name"]: r["error"] for r in results if r["status"] == "failed"}
    assert set(failed) == {"notes.txt", "broken.jpg"}
    assert "corrupt" in failed["broken.jpg"]
    csv_text = api.get(f"/api/v1/batches/{batch_id}/results.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("file_name,") and len(csv_text.splitlines()) == 203


def test_killing_the_worker_mid_batch_loses_no_image_and_duplicates_no_prediction(
    as_user, alice, clinic_a, tiny_model, worker_env, tmp_path
):
    from .conftest import WorkerProcess

    api = as_user(alice)
    created = api.post(
        "/api/v1/batches/",
        {"archive": SimpleUploadedFile("b.zip", make_zip(120), "application/zip")},
        format="multipart",
    ).json()
    batch_id = created["id"]
    worker = WorkerProcess(worker_env, tmp_path / "w1.log").start()
    wait_for(
        lambda: Prediction.objects.filter(batch_id=batch_id, status="done").count() >= 10,
        timeout=120,
        message="the first predictions",
    )
    worker.kill(signal.SIGKILL)
    interrupted = Prediction.objects.filter(batch_id=batch_id, status="running").count()
    done_before = Prediction.objects.filter(batch_id=batch_id, status="done").count()
    assert done_before < 120, "the batch finished before the kill; make it bigger"

    # The sweeper stands in for the broker's visibility timeout, whichever comes first.
    restarted = WorkerProcess(worker_env, tmp_path / "w2.log").start()
    try:

        def complete():
            predictions_sweep(stale_after=__import__("datetime").timedelta(seconds=5))
            return BatchJob.objects.get(pk=batch_id).status == "done"

        wait_for(complete, timeout=240, interval=1.0, message="the batch after the restart")
    finally:
        restarted.stop()
    rows = Prediction.objects.filter(batch_id=batch_id)
    assert rows.count() == 120
    assert rows.filter(status="done").count() == 120
    assert LesionImage.objects.filter(predictions__batch_id=batch_id).distinct().count() == 120
    if interrupted:
        assert rows.filter(attempts=2).count() >= 1
    assert not rows.filter(attempts__gt=2).exists()


def test_the_worker_refers_the_images_scored_above_the_threshold_and_not_the_others(
    as_user, alice, clinic_a, worker_env, tmp_path
):
    """Refer/routine through a real worker, with a model whose scores differ from image to image: the
    threshold is set between the second- and third-highest of four real images' scores."""
    from classifier.inference.engine import Engine
    from classifier.inference.testing import make_trained_tiny_artifact, sample_images
    from classifier.services import model_version_register

    from .conftest import WorkerProcess

    sha256, meta = make_trained_tiny_artifact(tmp_path / "trained.naevus.pt")
    version = model_version_register(
        artifact_path=str(tmp_path / "trained.naevus.pt"), sha256=sha256, meta=meta, activate=True
    )
    api = as_user(alice)
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    images = [data for data, _ in sample_images()[:4]]
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile(f"{i}.jpg", data, "image/jpeg") for i, data in enumerate(images)]},
        format="multipart",
    )
    assert response.status_code == 202
    # Scored from the stored files (uploads are re-encoded), as the worker will score them.
    stored = list(LesionImage.objects.filter(lesion=lesion).order_by("pk"))
    engine = Engine.from_artifact(version.artifact_path, sha256=version.sha256, backend="torch-cpu")
    expected = {
        image.pk: result.probability
        for image, result in zip(stored, engine.analyse([i.file.read() for i in stored]), strict=True)
    }
    ranked = sorted(expected.values(), reverse=True)
    assert ranked[1] - ranked[2] > 1e-3, "the model scores these images too alike to place a threshold between them"
    version.threshold = (ranked[1] + ranked[2]) / 2
    version.save(update_fields=["threshold"])

    worker = WorkerProcess(worker_env, tmp_path / "worker.log").start()
    try:
        predictions = Prediction.objects.filter(image__lesion=lesion)
        wait_for(lambda: predictions.filter(status="done").count() == 4, timeout=120, message="the predictions")
    finally:
        worker.stop()
    for prediction in predictions:
        body = api.get(f"/api/v1/predictions/{prediction.pk}/").json()
        assert body["threshold"] == version.threshold
        assert body["melanoma_probability"] == pytest.approx(expected[prediction.image_id], abs=1e-4)
        assert body["risk_category"] == ("refer" if expected[prediction.image_id] > version.threshold else "routine")
    assert sorted(p.risk_category for p in predictions) == ["refer", "refer", "routine", "routine"]


def test_a_real_worker_runs_its_pool_below_the_web_processes_cpu_priority(worker, settings):
    # NAEVUS_WORKER_NICE's default (10): the pool process, where inference runs, inherits it from the
    # worker's start, and the worker's session (its own, started as honcho and the bench start it) is weighed
    # less than the web's.
    wait_for(lambda: " ready." in worker.log(), timeout=60, message="the worker to be ready")
    pool = worker.children()[0]

    expected = max(settings.NAEVUS_WORKER_NICE, os.getpriority(os.PRIO_PROCESS, 0))  # it never lowers one
    assert settings.NAEVUS_WORKER_NICE == 10
    assert os.getpriority(os.PRIO_PROCESS, pool) == expected
    group = Path(f"/proc/{pool}/autogroup")
    if group.exists():
        assert group.read_text().split()[-2:] == ["nice", str(expected)]
    assert f"worker CPU priority: nice {expected}" in worker.log()
