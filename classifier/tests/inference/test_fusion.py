"""The metadata fusion head: its encoding, its place in the artifact, and what the Engine serves with it."""

import numpy as np
import pytest
import torch

from classifier.inference.artifact import (
    ArtifactFormatError,
    ArtifactIntegrityError,
    load_artifact,
    save_artifact,
    served_threshold,
)
from classifier.inference.engine import Engine
from classifier.inference.fusion import FEATURES, Metadata, features
from classifier.inference.scoring import calibrate, melanoma_log_odds
from classifier.inference.testing import make_tiny_artifact

# Large enough that age, sex and site each move the fused score far more than the random-init logits vary.
COEFFICIENTS = dict.fromkeys(FEATURES, 0.0) | {
    "image_logit": 1.3,
    "age": 0.9,
    "age_missing": -0.4,
    "male": 0.5,
    "female": -0.3,
    "site:head/neck": 0.7,
}
HEAD = {
    "features": list(FEATURES),
    "age_center": 50.0,
    "age_scale": 20.0,
    "coefficients": [COEFFICIENTS[f] for f in FEATURES],
    "intercept": -0.2,
    "calibration": {"method": "temperature", "T": 1.7},
    "threshold": 0.31,
    "metrics": {},
}


def _expected(raw: float, *, age: float | None, male: bool, female: bool, site: str | None) -> float:
    z = HEAD["intercept"] + 1.3 * raw
    z += 0.9 * (age - 50) / 20 if age is not None else -0.4
    z += 0.5 * male - 0.3 * female + (0.7 if site == "head/neck" else 0.0)
    return float(1 / (1 + np.exp(-z / 1.7)))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """The same weights twice: without a head (image only) and with one."""
    root = tmp_path_factory.mktemp("fusion")
    plain_sha, meta = make_tiny_artifact(root / "plain.pt", img_size=64, seed=3)
    state = load_artifact(root / "plain.pt", expected_sha256=plain_sha).state_dict
    fused_sha = save_artifact(root / "fused.pt", state_dict=state, meta={**meta, "fusion": HEAD})
    return (root / "plain.pt", plain_sha), (root / "fused.pt", fused_sha)


def test_metadata_outside_the_vocabulary_is_missing():
    assert Metadata.normalised(age="63.0", sex=" Male", site="HEAD/NECK") == Metadata(63.0, "male", "head/neck")
    assert Metadata.normalised(age="", sex="other", site="unknown") == Metadata()
    assert Metadata.normalised(age=None, sex="unknown", site="scalp").used == []
    assert Metadata.normalised(age=150, sex="female", site="torso").used == ["sex", "site"]
    row = features([Metadata(age=30.0, sex="female", site="palms/soles")], np.array([0.5]), center=50, scale=20)[0]
    assert dict(zip(FEATURES, row, strict=True)) == dict.fromkeys(FEATURES, 0.0) | {
        "image_logit": 0.5,
        "age": -1.0,
        "female": 1.0,
        "site:palms/soles": 1.0,
    }


def test_the_image_score_is_the_melanoma_log_odds_of_the_softmax():
    logits = np.array([[2.0, 0.5, -1.0], [-0.3, 1.0, 0.2]])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert melanoma_log_odds(logits, 1) == pytest.approx(np.log(p[:, 1] / (1 - p[:, 1])))
    assert melanoma_log_odds(np.array([[0.7], [-2.0]]), 0) == pytest.approx([0.7, -2.0])


def test_the_head_round_trips_through_the_artifact_and_its_sha256_covers_it(artifacts, tmp_path):
    _, (path, sha256) = artifacts
    meta = load_artifact(path, expected_sha256=sha256).meta
    assert meta["fusion"] == HEAD
    assert served_threshold(meta) == 0.31 and meta["threshold"] == 0.5
    payload = torch.load(path, weights_only=True)
    payload["meta"]["fusion"]["coefficients"][1] = 0.0
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(tmp_path / "tampered.pt", expected_sha256=sha256)
    with pytest.raises(ArtifactIntegrityError):
        Engine.from_artifact(tmp_path / "tampered.pt", sha256=sha256, backend="torch-cpu")


@pytest.mark.parametrize(
    "change",
    [{"features": list(FEATURES)[::-1]}, {"coefficients": [1.0]}, {"threshold": 1.5}, {"calibration": {"method": "x"}}],
)
def test_a_malformed_head_is_refused(artifacts, tmp_path, change):
    (path, sha256), _ = artifacts
    artifact = load_artifact(path, expected_sha256=sha256)
    with pytest.raises(ArtifactFormatError):
        save_artifact(
            tmp_path / "bad.pt", state_dict=artifact.state_dict, meta={**artifact.meta, "fusion": HEAD | change}
        )


def test_the_engine_serves_the_fused_probability_from_the_fields_it_has(artifacts, lesion_like_jpeg):
    (plain_path, plain_sha), (fused_path, fused_sha) = artifacts
    plain = Engine.from_artifact(plain_path, sha256=plain_sha, backend="torch-cpu")
    fused = Engine.from_artifact(fused_path, sha256=fused_sha, backend="torch-cpu")
    assert fused.threshold == 0.31 and plain.threshold == 0.5
    known = [
        Metadata(age=70.0, sex="male", site="head/neck"),
        Metadata(age=25.0, sex="female"),
        Metadata(),
        None,
    ]
    (reference,) = plain.analyse([lesion_like_jpeg])
    results = fused.analyse([lesion_like_jpeg] * 4, known)
    raw = reference.raw_score
    assert [r.metadata_used for r in results] == [["age", "sex", "site"], ["age", "sex"], [], []]
    for r in results:
        # The image model's own calibrated probability is kept beside the served one.
        assert r.image_probability == pytest.approx(reference.probability, abs=1e-6)
        assert r.raw_score == pytest.approx(raw, abs=1e-6)
    assert results[0].probability == pytest.approx(_expected(raw, age=70, male=True, female=False, site="head/neck"))
    assert results[1].probability == pytest.approx(_expected(raw, age=25, male=False, female=True, site=None))
    assert results[2].probability == pytest.approx(_expected(raw, age=None, male=False, female=False, site=None))
    assert results[3].probability == results[2].probability
    # Alone, the same image's logit comes from a batch of one: ONNX Runtime may sum in another order (3e-9 seen).
    assert fused.analyse([lesion_like_jpeg])[0].probability == pytest.approx(results[2].probability, abs=1e-6)
    assert results[0].probability - results[1].probability > 0.2


def test_a_model_without_a_head_ignores_metadata_and_serves_as_before(artifacts, lesion_like_jpeg):
    (plain_path, plain_sha), _ = artifacts
    plain = Engine.from_artifact(plain_path, sha256=plain_sha, backend="torch-cpu")
    (without,) = plain.analyse([lesion_like_jpeg])
    (given,) = plain.analyse([lesion_like_jpeg], [Metadata(age=80.0, sex="male", site="torso")])
    assert plain.fusion is None
    assert without.metadata_used is None and given.metadata_used is None
    assert given.probability == without.probability == without.image_probability
    assert without.probability == pytest.approx(float(calibrate(np.array([without.raw_score]), {"method": "none"})[0]))
