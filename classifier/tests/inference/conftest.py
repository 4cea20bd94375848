"""Fixtures for the Django-free inference tests: tiny models, synthetic and sample images."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.inference.engine import prepare_onnx
from classifier.inference.testing import make_tiny_artifact, make_trained_tiny_artifact, sample_images

# The machine is shared; one thread keeps timings stable and leaves cores free.
torch.set_num_threads(1)


def jpeg_bytes(img: Image.Image, **save_kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92, **save_kwargs)
    return buf.getvalue()


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A real photograph (scikit-learn's bundled sample), 640×427."""
    import sklearn.datasets

    return Image.fromarray(sklearn.datasets.load_sample_image("china.jpg"))


@pytest.fixture
def lesion_like_jpeg() -> bytes:
    """A 300×200 JPEG with a dark blob on skin tone, deterministic."""
    yy, xx = np.mgrid[0:200, 0:300]
    blob = np.exp(-((yy - 90) ** 2 + (xx - 160) ** 2) / (2 * 35.0**2))
    skin = np.array([225, 180, 160], np.float32)
    lesion = np.array([90, 55, 40], np.float32)
    arr = skin * (1 - blob[..., None]) + lesion * blob[..., None]
    arr += np.random.default_rng(0).normal(0, 6, arr.shape)
    return jpeg_bytes(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """(path, sha256, meta) of a binary-head ``test_efficientnet`` at 64 px."""
    path = tmp_path_factory.mktemp("artifact") / "tiny.pt"
    sha256, meta = make_tiny_artifact(path, img_size=64, seed=0)
    return path, sha256, meta


@pytest.fixture(scope="session")
def tiny_onnx(tiny_artifact):
    """(path, sha256) of the ONNX export of ``tiny_artifact``, exported once per session."""
    path, sha256, _ = tiny_artifact
    onnx_path = path.with_suffix(".onnx")
    return onnx_path, prepare_onnx(path, onnx_path, sha256=sha256)


@pytest.fixture(scope="session")
def real_images() -> list[bytes]:
    return [data for data, _ in sample_images()]


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory):
    """(path, sha256, meta) of ``test_efficientnet`` after a few steps on the sample images, 64 px."""
    path = tmp_path_factory.mktemp("trained") / "trained.naevus.pt"
    sha256, meta = make_trained_tiny_artifact(path)
    return path, sha256, meta
