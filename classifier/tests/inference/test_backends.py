import copy
import multiprocessing

import numpy as np
import pytest
import torch

from classifier.inference import backends
from classifier.inference.artifact import load_artifact
from classifier.inference.backends import (
    OnnxParityError,
    OnnxPredictor,
    TorchPredictor,
    export_onnx,
    select_backend,
)
from classifier.inference.factory import create_model
from classifier.inference.testing import MIN_LOGIT_SPREAD, logit_spread


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("test_efficientnet", num_classes=3).eval()
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, path, img_size=96)
    return model, path


def _batch(n, size=96, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3, size, size)).astype(np.float32)


def test_onnx_matches_pytorch_on_logits_and_cam_of_real_images(trained_artifact, real_images, tmp_path):
    path, sha256, meta = trained_artifact
    artifact = load_artifact(path, expected_sha256=sha256)
    model = create_model(meta["arch"], num_classes=1)
    model.load_state_dict(artifact.state_dict)
    model.eval()
    onnx_path = tmp_path / "model.onnx"
    export_onnx(model, onnx_path, img_size=64)
    batch = np.stack([artifact.preprocess(artifact.preprocess.open(data)) for data in real_images])
    weights = model.classifier.weight.detach().numpy()
    onnx_logits, onnx_cam, onnx_embedding = OnnxPredictor(
        onnx_path, class_weights=weights, melanoma_index=0, threads=1
    ).predict(batch)
    torch_logits, torch_cam, torch_embedding = TorchPredictor(model, device="cpu", melanoma_index=0).predict(batch)
    assert onnx_logits.shape == (len(real_images), 1)
    assert logit_spread(torch_logits) >= MIN_LOGIT_SPREAD
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4
    assert np.abs(onnx_cam - torch_cam).max() < 1e-4
    # The embedding is the head's input: the linear head on it gives the logits back.
    assert onnx_embedding.shape == (len(real_images), weights.shape[1])
    assert np.abs(onnx_embedding - torch_embedding).max() < 1e-4
    head = onnx_embedding @ weights.T + model.classifier.bias.detach().numpy()
    assert np.abs(head - torch_logits).max() < 1e-4


def test_the_onnx_batch_axis_is_dynamic(exported):
    model, path = exported
    predictor = OnnxPredictor(path, class_weights=model.classifier.weight.detach().numpy(), melanoma_index=0, threads=1)
    for n in (1, 5):
        logits, cam, embedding = predictor.predict(_batch(n))
        assert logits.shape == (n, 3) and cam.shape[0] == n and embedding.shape[0] == n


def test_an_export_that_fails_the_parity_check_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(backends, "ONNX_PARITY_ATOL", -1.0)
    with pytest.raises(OnnxParityError):
        export_onnx(create_model("test_efficientnet", num_classes=1).eval(), tmp_path / "m.onnx", img_size=64)
    assert list(tmp_path.iterdir()) == []


def _predict_in_child(predictor, batch, queue):
    queue.put(predictor.predict(batch)[0])


def test_an_onnx_predictor_used_before_a_fork_still_works_in_the_child(exported):
    model, path = exported
    predictor = OnnxPredictor(path, class_weights=model.classifier.weight.detach().numpy(), melanoma_index=0, threads=1)
    parent_logits, _, _ = predictor.predict(_batch(2))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_predict_in_child, args=(predictor, _batch(2), queue))
    child.start()
    child_logits = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_allclose(child_logits, parent_logits, atol=1e-6)


def test_predictors_reject_a_batch_without_three_channels(exported):
    model, path = exported
    predictor = OnnxPredictor(path, class_weights=model.classifier.weight.detach().numpy(), melanoma_index=0)
    with pytest.raises(ValueError, match=r"\(N, 3, S, S\)"):
        predictor.predict(np.zeros((1, 96, 96, 3), np.float32))


def test_select_backend_uses_onnx_on_a_cpu_only_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_backend() == "onnx-cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_backend() == "torch-cuda"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cuda_predictor_with_autocast_stays_close_to_fp32(exported):
    model, _ = exported
    reference_logits, reference_cam, _ = TorchPredictor(model, device="cpu", melanoma_index=0).predict(_batch(4))
    logits, cam, _ = TorchPredictor(copy.deepcopy(model), device="cuda", melanoma_index=0).predict(_batch(4))
    assert np.abs(logits - reference_logits).max() < 5e-2
    assert np.corrcoef(cam.ravel(), reference_cam.ravel())[0, 1] > 0.99


@pytest.mark.parametrize(("env", "expected"), [(None, "0"), ("0", "0"), ("1", "1")])
def test_onnx_runtime_threads_sleep_between_batches_unless_spinning_is_asked_for(exported, monkeypatch, env, expected):
    # Spinning threads burnt the cores a worker decodes on between its model batches (onnx_runtime.spin_wait);
    # the CPU it saves is measured in bench/pipeline.py, not here.
    if env is None:
        monkeypatch.delenv("NAEVUS_ONNX_SPIN_WAIT", raising=False)
    else:
        monkeypatch.setenv("NAEVUS_ONNX_SPIN_WAIT", env)
    model, path = exported
    predictor = OnnxPredictor(path, class_weights=model.classifier.weight.detach().numpy(), melanoma_index=0)
    predictor.predict(_batch(1))

    options = predictor._get_session().get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == expected
