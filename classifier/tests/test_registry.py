"""The model registry: registration serves a trained model's scores through its ONNX twin, and
`activate_if_better` replaces the active version only on a higher validation ROC AUC."""

import numpy as np
import pytest

from classifier.inference.artifact import load_artifact, save_artifact
from classifier.inference.engine import Engine
from classifier.inference.testing import (
    MIN_LOGIT_SPREAD,
    logit_spread,
    make_tiny_artifact,
    make_trained_tiny_artifact,
    sample_images,
)
from classifier.models import ModelVersion
from classifier.services import model_version_register

pytestmark = pytest.mark.django_db


def _register(tmp_path, *, seed: int, val_auc: float | None, **kwargs) -> ModelVersion:
    path = tmp_path / f"{seed}.naevus.pt"
    sha256, meta = make_tiny_artifact(path, seed=seed)
    meta["metrics"] = {} if val_auc is None else {"val": {"roc_auc": val_auc}}
    return model_version_register(artifact_path=str(path), sha256=sha256, meta=meta, **kwargs)


def test_activate_if_better_activates_a_higher_validation_auc_and_keeps_the_active_one_otherwise(tmp_path):
    first = _register(tmp_path, seed=1, val_auc=0.80, activate=True)
    worse = _register(tmp_path, seed=2, val_auc=0.79, activate_if_better=True)
    equal = _register(tmp_path, seed=3, val_auc=0.80, activate_if_better=True)
    unknown = _register(tmp_path, seed=4, val_auc=None, activate_if_better=True)
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]
    better = _register(tmp_path, seed=5, val_auc=0.81, activate_if_better=True)
    assert list(ModelVersion.objects.filter(is_active=True)) == [better]
    assert not any(v.is_active for v in ModelVersion.objects.filter(pk__in=[worse.pk, equal.pk, unknown.pk]))


def test_without_activate_if_better_a_better_version_stays_inactive(tmp_path):
    first = _register(tmp_path, seed=1, val_auc=0.80, activate=True)
    _register(tmp_path, seed=2, val_auc=0.95)
    assert list(ModelVersion.objects.filter(is_active=True)) == [first]


def test_a_registered_trained_model_scores_real_images_through_its_onnx_twin_as_pytorch_does(tmp_path):
    """Registration exports the ONNX file the CPU workers serve. Compared on the 64 real sample images with
    a model whose logits spread over >= 1.0, so that agreement within 1e-4 cannot come from a model that
    says the same about every image."""
    sha256, meta = make_trained_tiny_artifact(tmp_path / "trained.naevus.pt")
    version = model_version_register(artifact_path=str(tmp_path / "trained.naevus.pt"), sha256=sha256, meta=meta)
    images = [data for data, _ in sample_images()]
    served = Engine.from_artifact(
        version.artifact_path,
        sha256=version.sha256,
        onnx_path=version.onnx_path,
        onnx_sha256=version.onnx_sha256,
        backend="onnx-cpu",
        threads=1,
    ).analyse(images)
    reference = [r.raw_score for r in Engine.from_artifact(version.artifact_path, sha256=version.sha256,
                                                           backend="torch-cpu").analyse(images)]  # fmt: skip
    assert logit_spread(reference) >= MIN_LOGIT_SPREAD
    assert np.abs(np.subtract([r.raw_score for r in served], reference)).max() < 1e-4


def test_a_fused_version_shows_and_is_compared_by_the_figures_of_what_it_serves(tmp_path):
    """With a fusion head, decisions use the fused probability at the head's threshold: the registry keeps the
    image model's figures, adds the fused ones, and `activate_if_better` compares fused validation AUCs."""
    from classifier.tests.test_fusion_worker import HEAD

    first = _register(tmp_path, seed=1, val_auc=0.80, activate=True)
    path = tmp_path / "fused.naevus.pt"
    sha256, meta = make_tiny_artifact(path, seed=6)
    fused_figures = {"roc_auc": 0.83, "sensitivity": 0.95, "specificity": 0.44, "ece": 0.02, "threshold": 0.4}
    head = {**HEAD, "metrics": {"val": {"n": 50, "image": {"roc_auc": 0.79}, "fused": fused_figures}}}
    meta = {**meta, "metrics": {"val": {"roc_auc": 0.79}}, "fusion": head}
    state = load_artifact(path, expected_sha256=sha256).state_dict
    sha256 = save_artifact(path, state_dict=state, meta=meta)
    fused = model_version_register(artifact_path=str(path), sha256=sha256, meta=meta, activate_if_better=True)
    # Image alone 0.79 < 0.80, fused 0.83 > 0.80: what is served wins.
    assert fused.metrics == {"val": {"roc_auc": 0.79}, "fused": {"val": fused_figures}}
    assert fused.val_auc == 0.83 and fused.threshold == HEAD["threshold"]
    assert list(ModelVersion.objects.filter(is_active=True)) == [fused] != [first]
