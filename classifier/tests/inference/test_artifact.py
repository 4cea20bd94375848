import numpy as np
import pytest

from classifier.inference.artifact import (
    ArtifactFormatError,
    ArtifactIntegrityError,
    load_artifact,
    melanoma_score,
    save_artifact,
    sha256_file,
)
from classifier.inference.testing import make_tiny_artifact, tiny_meta


def test_save_returns_the_sha256_of_the_written_file(tmp_path):
    sha256, meta = make_tiny_artifact(tmp_path / "a.pt")
    assert sha256 == sha256_file(tmp_path / "a.pt")
    artifact = load_artifact(tmp_path / "a.pt", expected_sha256=sha256)
    assert artifact.meta == meta and artifact.sha256 == sha256
    assert artifact.preprocess.img_size == 64


def test_a_modified_artifact_is_refused(tmp_path):
    path = tmp_path / "a.pt"
    sha256, _ = make_tiny_artifact(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(path, expected_sha256=sha256)


def test_another_models_hash_is_refused(tmp_path):
    make_tiny_artifact(tmp_path / "a.pt", seed=0)
    other, _ = make_tiny_artifact(tmp_path / "b.pt", seed=1)
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(tmp_path / "a.pt", expected_sha256=other)


def test_a_failed_save_leaves_the_previous_file_and_no_temporary_files(tmp_path):
    path = tmp_path / "a.pt"
    sha256, meta = make_tiny_artifact(path)
    with pytest.raises(TypeError):
        save_artifact(path, state_dict={}, meta={**meta, "metrics": {"auc": object()}})
    assert sha256_file(path) == sha256
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_incomplete_or_inconsistent_meta_is_rejected(tmp_path):
    meta = tiny_meta(arch="test_efficientnet", img_size=64, num_classes=1, seed=0)
    for broken in (
        {k: v for k, v in meta.items() if k != "threshold"},
        {**meta, "melanoma_index": 1},
        {**meta, "class_names": ["melanoma", "nevus"]},
        {**meta, "calibration": {"method": "isotonic"}},
        {**meta, "format": "naevus-artifact/2"},
    ):
        with pytest.raises(ArtifactFormatError):
            save_artifact(tmp_path / "x.pt", state_dict={}, meta=broken)


BINARY = {"num_classes": 1, "melanoma_index": 0}


def test_a_binary_head_scores_the_sigmoid_of_its_logit():
    raw, prob, class_probs = melanoma_score(
        np.array([[0.0], [2.0], [-800.0]]), {**BINARY, "calibration": {"method": "none"}}
    )
    np.testing.assert_allclose(raw, [0.0, 2.0, -800.0])
    np.testing.assert_allclose(prob, [0.5, 1 / (1 + np.exp(-2.0)), 0.0], atol=1e-12)
    assert class_probs is None


def test_temperature_and_platt_calibrate_the_binary_logit():
    logits = np.array([[3.0]])
    _, t, _ = melanoma_score(logits, {**BINARY, "calibration": {"method": "temperature", "T": 2.0}})
    _, p, _ = melanoma_score(logits, {**BINARY, "calibration": {"method": "platt", "a": 0.5, "b": -1.0}})
    np.testing.assert_allclose(t, [1 / (1 + np.exp(-1.5))])
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-0.5))])


def test_a_multiclass_head_scores_the_melanoma_softmax_entry():
    meta = {"num_classes": 3, "melanoma_index": 1, "calibration": {"method": "none"}}
    logits = np.array([[1.0, 2.0, 0.5]])
    raw, prob, class_probs = melanoma_score(logits, meta)
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(class_probs, expected)
    np.testing.assert_allclose(prob, expected[:, 1])
    assert raw[0] == 2.0

    _, tempered, _ = melanoma_score(logits, {**meta, "calibration": {"method": "temperature", "T": 2.0}})
    np.testing.assert_allclose(tempered, (np.exp(logits / 2) / np.exp(logits / 2).sum())[:, 1])

    _, identity_platt, _ = melanoma_score(logits, {**meta, "calibration": {"method": "platt", "a": 1.0, "b": 0.0}})
    np.testing.assert_allclose(identity_platt, expected[:, 1])
