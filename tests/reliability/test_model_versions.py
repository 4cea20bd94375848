"""Item 9: a model version activated mid-batch, and two `train` runs registering at once."""

import io
import json
import subprocess
import sys
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from classifier.inference.engine import Engine
from classifier.inference.testing import (
    MIN_LOGIT_SPREAD,
    logit_spread,
    make_tiny_artifact,
    make_trained_tiny_artifact,
    sample_images,
)
from classifier.models import BatchJob, ModelVersion, Prediction
from classifier.services import model_version_register
from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, PatientFactory

from .conftest import ROOT, wait_for
from .figures import record

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]


def _engine(version: ModelVersion) -> Engine:
    return Engine.from_artifact(
        version.artifact_path, sha256=version.sha256, onnx_path=version.onnx_path, onnx_sha256=version.onnx_sha256
    )


def _trained_artifact(tmp_path, *, seed: int) -> dict:
    path = tmp_path / f"trained-{seed}.naevus.pt"
    sha256, meta = make_trained_tiny_artifact(path, seed=seed)
    return {"artifact_path": str(path), "sha256": sha256, "meta": meta}


def _sample_zip(images: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, data in enumerate(images):
            zf.writestr(f"sample_{i:02d}.jpg", data)
    return buf.getvalue()


def test_activating_a_version_mid_batch_leaves_every_prediction_tied_to_the_version_that_made_it(
    as_user, alice, clinic_a, fault_workers, tmp_path
):
    """32 real sample images, two briefly trained versions (their scores spread over >= 1.0 across the
    images, so a score identifies both the weights and the image). The batch keeps the version it started
    with, a new upload takes the new one, and each stored score equals that version's own engine's score
    on that image, not the other's."""
    images = [data for data, _ in sample_images()]
    first = model_version_register(**_trained_artifact(tmp_path, seed=0), activate=True)
    # Trained before the batch starts: a few seconds of training mid-batch would outlast it.
    second_artifact = _trained_artifact(tmp_path, seed=1)
    api = as_user(alice)
    response = api.post(
        "/api/v1/batches/",
        {"archive": SimpleUploadedFile("b.zip", _sample_zip(images[:32]), "application/zip")},
        format="multipart",
    )
    batch_id = response.json()["id"]
    # 1 s per image: registering v2 (its ONNX export) takes several seconds on a loaded machine.
    worker = fault_workers(NAEVUS_TEST_ANALYSE_DELAY=1.0)
    worker.wait_ready()
    wait_for(lambda: Prediction.objects.filter(batch_id=batch_id, status="done").count() >= 8, timeout=90)
    second = model_version_register(**second_artifact, activate=True)
    assert Prediction.objects.filter(batch_id=batch_id, status="done").count() < 32, "activate earlier"
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic_a))
    upload = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("new.jpg", images[40], "image/jpeg")]},
        format="multipart",
    )
    assert upload.json()["images"][0]["predictions"][0]["model_version"]["id"] == second.pk
    wait_for(lambda: BatchJob.objects.get(pk=batch_id).status == "done", timeout=120, interval=0.5)
    later = Prediction.objects.get(image__lesion=lesion)
    wait_for(lambda: Prediction.objects.get(pk=later.pk).status == "done", timeout=60)

    batch_rows = Prediction.objects.filter(batch_id=batch_id).select_related("image")
    assert batch_rows.count() == 32 and batch_rows.values("image_id").distinct().count() == 32
    assert set(batch_rows.values_list("model_version_id", flat=True)) == {first.pk}
    assert set(batch_rows.values_list("status", flat=True)) == {"done"}
    assert logit_spread(batch_rows.values_list("raw_score", flat=True)) >= MIN_LOGIT_SPREAD
    engines = {first.pk: _engine(first), second.pk: _engine(second)}
    for prediction in [*batch_rows, Prediction.objects.get(pk=later.pk)]:
        source = prediction.image.file.open("rb").read()
        own = engines[prediction.model_version_id].analyse([source])[0].raw_score
        other = next(e for pk, e in engines.items() if pk != prediction.model_version_id).analyse([source])[0].raw_score
        assert prediction.raw_score == pytest.approx(own, abs=1e-4)
        assert prediction.raw_score != pytest.approx(other, abs=1e-4)
    assert LesionImage.objects.count() == 33 and Prediction.objects.count() == 33
    record("9", "version activated mid-batch (32 images)", "32/32 tied to v1, the new upload to v2; scores match")


REGISTER = """
import json, os, sys, time
import django
django.setup()
from classifier.services import model_version_register
from portal.core.exceptions import ApplicationError
path, sha256, meta, go = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
try:
    version = model_version_register(artifact_path=path, sha256=sha256, meta=meta, activate=True)
    print(json.dumps({"ok": version.pk, "name": version.name}))
except ApplicationError as exc:
    print(json.dumps({"error": exc.code, "message": exc.message, "name": meta["name"]}))
"""


def _artifact(tmp_path, seed: int, **meta_changes):
    path = tmp_path / f"run-{seed}.naevus.pt"
    sha256, meta = make_tiny_artifact(path, seed=seed)
    return path, sha256, {**meta, **meta_changes}


def test_concurrent_registrations_are_serialised_one_active_and_no_duplicate_name(worker_env, tmp_path):
    """Four `train`-like processes register at the same instant (each waits, imported and ready, for
    one go signal): two different models, and two runs that both claim "nightly 2026-01-01". The
    registry lock serialises them: three versions are recorded, one of them active, and the second
    "nightly" is refused with a clear error."""
    artifacts = [
        _artifact(tmp_path, 11),
        _artifact(tmp_path, 12),
        _artifact(tmp_path, 21, name="nightly", version="2026-01-01"),
        _artifact(tmp_path, 22, name="nightly", version="2026-01-01"),
    ]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(path), sha256, json.dumps(meta), str(go)],
            cwd=ROOT,
            env=worker_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path, sha256, meta in artifacts
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [("ok" in r) for r in results[:2]] == [True, True], results
    nightly = results[2:]
    assert sum("ok" in r for r in nightly) == 1, results
    (refused,) = [r for r in nightly if "error" in r]
    assert refused["error"] == "duplicate_version" and "already registered" in refused["message"]
    assert ModelVersion.objects.count() == 3
    assert ModelVersion.objects.filter(name="nightly").count() == 1
    assert ModelVersion.objects.filter(is_active=True).count() == 1
    record("9", "4 concurrent registrations (2 share a name/version)", "3 recorded, 1 active, 1 refused as duplicate")
