"""The serving artifact a run writes gives, through the classifier's Engine, the training model's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from classifier.inference.engine import Engine
from classifier.inference.factory import create_model
from classifier.inference.metrics import apply_calibration
from training.core.config import TrainConfig
from training.core.distributed import init_runtime
from training.core.loop import Precision, predict
from training.core.run import main as run_main
from training.core.run import prepare
from training.tests.conftest import make_source


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifact")
    torch.set_num_threads(1)
    cfg = TrainConfig(
        data=[make_source(root / "src", n=32, size=48)],
        external=[make_source(root / "ext", n=12, seed=9)],
        out=str(root / "run"),
        task="binary",
        arch="test_efficientnet",
        init="none",
        img_size=40,
        epochs=2,
        batch_size=8,
        folds=4,
        workers=0,
        progress=False,
        bootstrap=50,
        calibration="platt",
    )
    cfg.save(root / "cfg.json")
    run_main(["--config", str(root / "cfg.json")])
    return cfg, json.loads((cfg.out_dir / "result.json").read_text())


@pytest.mark.parametrize("backend", ["onnx-cpu", "torch-cpu"])
def test_the_engine_reproduces_the_training_models_probabilities(trained, backend):
    cfg, result = trained
    prepared = prepare(cfg, init_runtime(force_cpu=True))
    test_set = prepared.eval_sets["test"]
    model = create_model(cfg.arch, num_classes=2)
    model.load_state_dict(torch.load(cfg.out_dir / "checkpoints" / "best.pt", weights_only=True)["model"])
    logits = predict(
        model,
        test_set,
        runtime=init_runtime(force_cpu=True),
        batch_size=8,
        precision=Precision(None),
        channels_last=False,
    )
    expected = apply_calibration(logits, 1, result["meta"]["calibration"])

    engine = Engine.from_artifact(
        result["artifact"], sha256=result["sha256"], backend=backend, onnx_path=str(cfg.out_dir / "model.onnx")
    )
    served = engine.analyse([str(r.path) for r in test_set.records])
    assert all(r.ok for r in served)
    np.testing.assert_allclose([r.probability for r in served], expected, atol=1e-4)
    assert engine.threshold == pytest.approx(result["meta"]["threshold"])


def test_the_run_writes_metrics_plots_and_a_complete_artifact(trained):
    cfg, result = trained
    metrics = json.loads((cfg.out_dir / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"val", "test", "external/ext"}
    test = metrics["splits"]["test"]
    assert len(test["roc_auc_ci95"]) == 2 and {"tp", "fp", "tn", "fn"} <= set(test["confusion"])
    assert set(result["plots"]) == {"roc", "pr", "reliability", "confusion", "curves"}
    for path in result["plots"].values():
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    meta = result["meta"]
    assert meta["calibration"]["method"] == "platt"
    assert meta["metrics"]["val"]["roc_auc"] == pytest.approx(metrics["splits"]["val"]["roc_auc"])
    assert json.loads((cfg.out_dir / "config.json").read_text())["arch"] == "test_efficientnet"
