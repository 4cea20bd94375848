"""The serving path (artifact → ONNX → Engine) reproduces the external figures of the training report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier.inference.artifact import ARTIFACT_NAME
from classifier.inference.metrics import roc_auc
from training.core.config import TrainConfig
from training.core.data import load_sources
from training.core.run import main as run_main
from training.core.served_check import check, served_scores
from training.tests.conftest import make_source


def tiny_run(root, *, n: int, external_seed: int, epochs: int, metadata: bool = False, **options) -> TrainConfig:
    """A small real training run on generated lesions, with one external source; returns its config."""
    cfg = TrainConfig(
        data=[make_source(root / "src", n=n, size=48, metadata=metadata)],
        external=[make_source(root / "ext", n=n // 2, size=48, seed=external_seed, metadata=metadata)],
        out=str(root / "run"),
        arch="test_efficientnet",
        init="none",
        img_size=40,
        epochs=epochs,
        batch_size=8,
        lr=3e-3,
        folds=4,
        progress=False,
        bootstrap=20,
        **options,
    )
    cfg.save(root / "cfg.json")
    run_main(["--config", str(root / "cfg.json")])
    return cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("served"), n=48, external_seed=7, epochs=3).out_dir


def test_the_served_model_gives_the_reports_external_auc_sensitivity_and_specificity(run_dir):
    report = check(run_dir, tolerance=1e-3)
    served = report["sources"]["external/ext"]["served"]
    trained = report["sources"]["external/ext"]["training_report"]
    assert report["ok"], report
    assert served["roc_auc"] == pytest.approx(trained["roc_auc"], abs=1e-3)
    assert served["sensitivity"] == pytest.approx(trained["sensitivity"], abs=1e-3)


def test_the_scores_compared_actually_vary(run_dir):
    # Equal AUCs of a constant or random-ranking model would prove nothing.
    from classifier.inference.engine import Engine

    result = json.loads((run_dir / "result.json").read_text())
    engine = Engine.from_artifact(
        run_dir / ARTIFACT_NAME, sha256=result["sha256"], backend="onnx-cpu", onnx_path=run_dir / "check.onnx"
    )
    ext = TrainConfig.load(run_dir / "config.json").external[0]
    scores = served_scores(engine, [r.path for r in load_sources([ext])])
    targets = np.asarray([r.target for r in load_sources([ext])])
    assert np.ptp(scores) > 0.005, scores
    assert roc_auc(targets, scores) >= 0.8


def test_a_report_that_the_served_model_does_not_reproduce_fails_the_check(run_dir, tmp_path):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics["splits"]["external/ext"]["roc_auc"] -= 0.05
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("config.json", "result.json", ARTIFACT_NAME):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    (copy / "metrics.json").write_text(json.dumps(metrics))
    assert check(copy, tolerance=1e-3)["ok"] is False


def test_engine_views_are_the_training_loops_views():
    import torch

    from classifier.inference.engine import dihedral_view
    from training.core.loop import dihedral

    batch = np.random.default_rng(0).normal(size=(2, 3, 5, 5)).astype(np.float32)
    for k in range(8):
        np.testing.assert_array_equal(dihedral_view(batch, k), dihedral(torch.from_numpy(batch), k).numpy())


def test_a_model_served_with_four_views_reproduces_its_report(tmp_path):
    cfg = tiny_run(tmp_path, n=40, external_seed=5, epochs=2, serve_views=4)
    result = json.loads((cfg.out_dir / "result.json").read_text())
    assert result["meta"]["tta_views"] == 4
    report = check(cfg.out_dir, tolerance=1e-3)
    assert report["ok"], report


def test_rescoring_a_run_with_one_view_gives_its_own_report_back(run_dir):
    from training.core.rescore import rescore

    metrics = json.loads((run_dir / "metrics.json").read_text())
    again = rescore(run_dir, views=1)
    for split in ("test", "external/ext"):
        assert again["splits"][split]["roc_auc"] == pytest.approx(metrics["splits"][split]["roc_auc"], abs=1e-6)
    assert again["threshold"] == pytest.approx(metrics["threshold"], abs=1e-6)
