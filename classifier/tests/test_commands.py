import io

import pytest
import torch
from django.core.management import CommandError, call_command

from classifier.inference.factory import create_model
from classifier.inference.testing import make_tiny_artifact
from classifier.models import BatchJob, ModelVersion, Prediction

from .test_worker_integration import lesion_jpeg

pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_registers_a_training_artifact_inactive_then_activate_and_roll_back(tmp_path):
    first = tmp_path / "a.naevus.pt"
    make_tiny_artifact(first, seed=1)
    second = tmp_path / "b.naevus.pt"
    make_tiny_artifact(second, seed=2)
    _call("model", "import", str(first), "--activate")
    _call("model", "import", str(second))
    v1, v2 = ModelVersion.objects.order_by("id")
    assert v1.is_active and not v2.is_active
    assert v2.onnx_sha256 and v2.sha256 != v1.sha256
    _call("model", "activate", str(v2.pk))
    _call("model", "activate", str(v1.pk))
    assert list(ModelVersion.objects.filter(is_active=True)) == [v1]
    listing = _call("model", "list")
    assert "* " in listing and "demo — not for clinical use" in listing


def test_import_wraps_a_plain_timm_state_dict_with_the_metadata_given(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save(create_model("test_efficientnet", num_classes=1).state_dict(), path)
    with pytest.raises(CommandError, match="--arch"):
        _call("model", "import", str(path))
    _call("model", "import", str(path), "--arch", "test_efficientnet", "--img-size", "64", "--threshold", "0.4",
          "--name", "plain", "--version", "1")  # fmt: skip
    version = ModelVersion.objects.get(name="plain")
    assert version.threshold == pytest.approx(0.4) and version.img_size == 64 and not version.is_demo


def test_a_tampered_artifact_is_refused_at_import(tmp_path):
    path = tmp_path / "a.naevus.pt"
    sha, meta = make_tiny_artifact(path)
    from classifier.services import model_version_register

    path.write_bytes(path.read_bytes() + b"tamper")
    from portal.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="sha256"):
        model_version_register(artifact_path=str(path), sha256=sha, meta=meta)


@pytest.mark.parametrize("missing", ["threshold", "preprocess"])
def test_an_artifact_meta_without_a_threshold_or_preprocessing_is_refused_not_given_a_default(tmp_path, missing):
    from classifier.services import model_version_register
    from portal.core.exceptions import ApplicationError

    path = tmp_path / "a.naevus.pt"
    sha, meta = make_tiny_artifact(path)
    del meta[missing]
    with pytest.raises(ApplicationError, match=missing) as refused:
        model_version_register(artifact_path=str(path), sha256=sha, meta=meta)
    assert refused.value.code == "invalid_artifact"
    assert not ModelVersion.objects.exists()


def test_analyze_queues_a_server_folder_as_one_batch(tmp_path, clinic_a):
    artifact = tmp_path / "m.naevus.pt"
    make_tiny_artifact(artifact)
    _call("model", "import", str(artifact), "--activate")
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(lesion_jpeg(i))
    (folder / "readme.txt").write_text("ignored")
    out = _call("analyze", str(folder), "--clinic", "Clinic A")
    batch = BatchJob.objects.get()
    assert f"batch {batch.pk}" in out and batch.total == 3 and batch.clinic == clinic_a
    assert Prediction.objects.filter(batch=batch, status="queued").count() == 3
