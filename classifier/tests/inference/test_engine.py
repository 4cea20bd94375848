import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.inference.artifact import ArtifactIntegrityError, sha256_file
from classifier.inference.engine import Engine, prepare_onnx
from classifier.inference.testing import MIN_LOGIT_SPREAD, logit_spread, make_tiny_artifact

ISIC_DEV = Path(__file__).resolve().parents[4] / "shared" / "data" / "isic-dev"


@pytest.fixture(scope="module")
def onnx_engine(tiny_artifact, tiny_onnx):
    path, sha256, _ = tiny_artifact
    onnx_path, onnx_sha256 = tiny_onnx
    return Engine.from_artifact(
        path, sha256=sha256, onnx_path=onnx_path, onnx_sha256=onnx_sha256, backend="onnx-cpu", threads=1
    )


def test_a_corrupt_image_fails_only_its_own_item(onnx_engine, lesion_like_jpeg):
    sources = [lesion_like_jpeg, lesion_like_jpeg[:200], b"not an image", lesion_like_jpeg]
    results = onnx_engine.analyse(sources)
    assert [r.ok for r in results] == [True, False, False, True]
    assert "corrupt" in results[1].error
    assert results[2].error == "not a recognised image format"
    assert results[1].probability is None and results[1].heatmap_png is None
    assert results[0].probability == pytest.approx(results[3].probability, abs=1e-6)


def test_a_result_carries_scores_cam_heatmap_and_timings(onnx_engine, lesion_like_jpeg):
    (result,) = onnx_engine.analyse([lesion_like_jpeg])
    assert 0.0 < result.probability < 1.0
    assert result.probability == pytest.approx(1 / (1 + np.exp(-result.raw_score)))
    assert result.class_probs is None
    assert result.cam.shape == (2, 2)
    heatmap = Image.open(io.BytesIO(result.heatmap_png))
    assert heatmap.format == "PNG" and heatmap.size == (64, 64)
    assert result.decode_ms > 0 and result.inference_ms > 0


def test_onnx_and_torch_engines_agree_on_real_images_with_a_trained_model(trained_artifact, real_images, tmp_path):
    path, sha256, _ = trained_artifact
    onnx_path = tmp_path / "trained.onnx"
    onnx_sha256 = prepare_onnx(path, onnx_path, sha256=sha256)
    onnx_engine = Engine.from_artifact(
        path, sha256=sha256, onnx_path=onnx_path, onnx_sha256=onnx_sha256, backend="onnx-cpu", threads=1
    )
    torch_engine = Engine.from_artifact(path, sha256=sha256, backend="torch-cpu")
    a, b = onnx_engine.analyse(real_images), torch_engine.analyse(real_images)
    reference = [r.raw_score for r in b]
    assert logit_spread(reference) >= MIN_LOGIT_SPREAD
    assert np.abs(np.subtract([r.raw_score for r in a], reference)).max() < 1e-4
    assert max(np.abs(x.cam - y.cam).max() for x, y in zip(a, b, strict=True)) < 1e-4


def test_batching_does_not_change_the_scores(tiny_artifact, lesion_like_jpeg, photo):
    path, sha256, _ = tiny_artifact
    buf = io.BytesIO()
    photo.save(buf, format="PNG")
    sources = [lesion_like_jpeg, buf.getvalue(), lesion_like_jpeg]
    one = Engine.from_artifact(path, sha256=sha256, backend="torch-cpu", batch_size=1).analyse(sources)
    many = Engine.from_artifact(path, sha256=sha256, backend="torch-cpu", batch_size=8).analyse(sources)
    np.testing.assert_allclose([r.raw_score for r in one], [r.raw_score for r in many], atol=1e-5)


def test_the_engine_refuses_an_artifact_that_does_not_match_its_registered_hash(tiny_artifact):
    path, sha256, _ = tiny_artifact
    with pytest.raises(ArtifactIntegrityError):
        Engine.from_artifact(path, sha256="0" * 64, backend="torch-cpu")


def test_the_engine_refuses_an_onnx_file_that_does_not_match_its_registered_hash(tiny_artifact, tiny_onnx):
    path, sha256, _ = tiny_artifact
    onnx_path, _ = tiny_onnx
    with pytest.raises(ArtifactIntegrityError):
        Engine.from_artifact(path, sha256=sha256, onnx_path=onnx_path, onnx_sha256="f" * 64, backend="onnx-cpu")


def test_the_engine_exports_a_missing_onnx_file_and_replaces_one_made_from_another_artifact(tmp_path, lesion_like_jpeg):
    first_sha, _ = make_tiny_artifact(tmp_path / "first.pt", seed=0)
    second_sha, _ = make_tiny_artifact(tmp_path / "second.pt", seed=1)
    onnx_path = tmp_path / "model.onnx"
    prepare_onnx(tmp_path / "first.pt", onnx_path, sha256=first_sha)
    stale = sha256_file(onnx_path)

    engine = Engine.from_artifact(tmp_path / "second.pt", sha256=second_sha, onnx_path=onnx_path, backend="onnx-cpu")
    assert sha256_file(onnx_path) != stale
    reference = Engine.from_artifact(tmp_path / "second.pt", sha256=second_sha, backend="torch-cpu")
    (a,), (b,) = engine.analyse([lesion_like_jpeg]), reference.analyse([lesion_like_jpeg])
    assert abs(a.raw_score - b.raw_score) < 1e-4

    default_onnx = Path(f"{tmp_path / 'first.pt'}.onnx")
    Engine.from_artifact(tmp_path / "first.pt", sha256=first_sha, backend="onnx-cpu")
    assert default_onnx.exists()


def test_a_multiclass_engine_reports_named_class_probabilities(tmp_path, lesion_like_jpeg):
    sha256, meta = make_tiny_artifact(tmp_path / "multi.pt", num_classes=4)
    (result,) = Engine.from_artifact(tmp_path / "multi.pt", sha256=sha256, backend="torch-cpu").analyse(
        [lesion_like_jpeg]
    )
    assert list(result.class_probs) == meta["class_names"]
    assert sum(result.class_probs.values()) == pytest.approx(1.0)
    assert result.probability == pytest.approx(result.class_probs["melanoma"])


@pytest.mark.skipif(
    not ISIC_DEV.is_dir(), reason="needs the real images in ../shared/data/isic-dev, which a clone does not have"
)
def test_real_dermoscopy_images_are_scored(onnx_engine):
    paths = sorted(ISIC_DEV.glob("*.jpg"))[:8]
    results = onnx_engine.analyse([os.fspath(p) for p in paths])
    assert all(r.ok for r in results)
    assert len({round(r.raw_score, 6) for r in results}) > 1


class _HeldBack(io.BytesIO):
    """An image file whose bytes are not there until `ready` is set (a slow disk, a slow object store)."""

    def __init__(self, data: bytes, ready) -> None:
        super().__init__(data)
        self.ready = ready

    def read(self, *args):
        assert self.ready.wait(timeout=20), "the model never ran on the images already decoded"
        return super().read(*args)


def test_the_model_runs_on_a_decoded_batch_while_the_next_one_is_still_decoding(tiny_artifact, lesion_like_jpeg):
    """The worker's pipeline (Engine.analyse): the first batch is scored while a later image is still being
    read. Its bytes arrive only once the model has run, so an engine that decoded everything first would wait
    for itself (20 s, then fail); results keep their order and a corrupt image fails only itself."""
    import threading

    path, sha256, _ = tiny_artifact
    engine = Engine.from_artifact(path, sha256=sha256, backend="torch-cpu", batch_size=4)
    ran = threading.Event()
    predict = engine.predictor.predict

    def predict_and_tell(batch):
        out = predict(batch)
        ran.set()
        return out

    engine.predictor.predict = predict_and_tell
    sources = [lesion_like_jpeg] * 4 + [b"not an image", _HeldBack(lesion_like_jpeg, ran), lesion_like_jpeg]
    results = engine.analyse(sources)

    assert [r.ok for r in results] == [True] * 4 + [False, True, True]
    assert results[4].error == "not a recognised image format"
    expected = Engine.from_artifact(path, sha256=sha256, backend="torch-cpu", batch_size=4).analyse([lesion_like_jpeg])
    assert results[5].raw_score == pytest.approx(expected[0].raw_score, abs=1e-5)
