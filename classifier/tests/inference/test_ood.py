"""The out-of-distribution warning on real images: statistics fitted on real dermoscopy (samples/isic,
HAM10000) with a model whose embeddings vary (Lite0's ImageNet backbone), then served from ONNX.
Natural photos (scikit-image, scikit-learn, matplotlib samples) must be flagged, held-out dermoscopy
mostly not. Run on the CPU; about a minute."""

import shutil

import numpy as np
import pytest
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from classifier.inference.artifact import ArtifactIntegrityError, load_artifact
from classifier.inference.engine import BACKEND_ONNX_CPU, BACKEND_TORCH_CPU, Engine
from classifier.inference.ood import fit_stats, lesion_outlier_scores, ood_scores
from classifier.inference.testing import SAMPLES, make_imagenet_artifact, natural_photos
from training.core import ood as ood_command

# Every third sample image (by name) is held out; the rest is the "training folder".
DERMOSCOPY = sorted(SAMPLES.glob("*.jpg"))
HELD_OUT = DERMOSCOPY[::3]
FOLDER = [p for p in DERMOSCOPY if p not in HELD_OUT]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ood")
    artifact = tmp / "lite0.naevus.pt"
    plain_sha256, _ = make_imagenet_artifact(artifact)
    folder = tmp / "train"
    folder.mkdir()
    for path in FOLDER:
        shutil.copy(path, folder / path.name)
    out = tmp / "lite0-ood.naevus.pt"
    assert ood_command.main([str(artifact), "--images", str(folder), "--out", str(out), "--sha256", plain_sha256]) == 0
    sha256 = load_artifact(out, expected_sha256=None).sha256
    return artifact, plain_sha256, out, sha256


def test_natural_photos_are_flagged_and_held_out_dermoscopy_mostly_not(fitted):
    _, _, artifact, sha256 = fitted
    engine = Engine.from_artifact(
        artifact, sha256=sha256, onnx_path=artifact.with_suffix(".onnx"), backend=BACKEND_ONNX_CPU
    )
    derm = engine.analyse([p.read_bytes() for p in HELD_OUT])
    photos = engine.analyse([data for _, data in natural_photos()])
    assert all(r.ok for r in derm + photos)
    assert all(r.ood_flag for r in photos), [round(r.ood_score, 1) for r in photos]
    assert sum(r.ood_flag for r in derm) <= 2, [round(r.ood_score, 1) for r in derm]
    scores = [r.ood_score for r in derm + photos]
    assert roc_auc_score([0] * len(derm) + [1] * len(photos), scores) >= 0.95


def test_the_statistics_are_covered_by_the_artifact_sha256(fitted):
    plain, plain_sha256, with_ood, sha256 = fitted
    assert sha256 != plain_sha256
    assert "ood" in load_artifact(with_ood, expected_sha256=sha256).meta
    with pytest.raises(ArtifactIntegrityError):
        load_artifact(with_ood, expected_sha256=plain_sha256)


def test_a_model_without_statistics_still_serves_with_no_flag(fitted):
    plain, plain_sha256, _, _ = fitted
    [result] = Engine.from_artifact(plain, sha256=plain_sha256, backend=BACKEND_TORCH_CPU).analyse(
        [HELD_OUT[0].read_bytes()]
    )
    assert result.ok and result.ood_score is None and result.ood_flag is None
    assert result.embedding is not None and result.embedding.shape == (1280,)


def test_the_stored_covariance_gives_ledoit_wolfs_mahalanobis_distance():
    # Fewer images than dimensions, as with a small folder: the stored form is then exact.
    rng = np.random.default_rng(0)
    fit = rng.normal(size=(30, 80)) * rng.uniform(0.1, 3.0, size=80)
    query = rng.normal(size=(5, 80)) * 2
    stats = fit_stats(fit, fit[:10])
    lw = LedoitWolf().fit(fit)
    expected = np.sqrt(lw.mahalanobis(query))
    np.testing.assert_allclose(ood_scores(stats, query), expected, rtol=1e-4)


def test_the_outlier_score_needs_three_lesions_and_ranks_the_one_far_from_the_rest():
    assert lesion_outlier_scores({1: np.zeros(4), 2: np.ones(4)}) == {}
    scores = lesion_outlier_scores({1: np.zeros(4), 2: np.full(4, 0.1), 3: np.full(4, -0.1), 4: np.full(4, 5.0)})
    assert max(scores, key=scores.get) == 4
