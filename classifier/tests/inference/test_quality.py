"""The image-quality gate on real dermoscopy (samples/isic, HAM10000) and on degraded copies made here.

The thresholds come from bench/image_quality.py on ../shared/data; these tests need only the samples."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.inference import degrade, quality
from classifier.inference.preprocessing import Preprocess

SAMPLE_PATHS = sorted((Path(__file__).resolve().parents[3] / "samples" / "isic").glob("*.jpg"))
PRE = Preprocess(img_size=224)


def capture(path) -> np.ndarray:
    """The photo at its own resolution (up to 512 px on the short side), as the bench degrades it."""
    return np.asarray(Preprocess(img_size=512).open(path))


def verdict(img: np.ndarray) -> tuple[str, ...]:
    """Through the serving path: JPEG bytes → decode → the model's crop → the gate."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=92)
    return quality.assess(np.asarray(PRE.geometry(PRE.open(buf.getvalue())))).reasons


@pytest.fixture(scope="module")
def samples():
    return [capture(p) for p in SAMPLE_PATHS]


def test_the_real_sample_images_pass(samples):
    flagged = [p.name for p, img in zip(SAMPLE_PATHS, samples, strict=True) if verdict(img)]
    # The samples are 200×150 copies (upscaled to the crop), softer than the bench's images: at most 2 of 64.
    assert len(SAMPLE_PATHS) >= 60
    assert len(flagged) <= 2, flagged


def test_a_blurred_copy_of_every_sample_is_flagged_blurred(samples):
    # σ = 2 % of the short side (about 4.5 px at the crop): clearly out of focus. The bench reports how
    # much of the milder 1 % blur is caught. One sample (ISIC_0029347, a dark, grainy photo) keeps enough
    # Laplacian energy to pass even at 3 %: the gate is a screen, not a guarantee.
    missed = [
        p.name
        for p, img in zip(SAMPLE_PATHS, samples, strict=True)
        if quality.BLURRED not in verdict(degrade.gaussian_blur(img, sigma_fraction=0.02))
    ]
    assert len(missed) <= 1, missed


def test_an_over_exposed_copy_is_flagged_over_exposed_and_an_under_exposed_one_under_exposed(samples):
    over = [quality.OVER_EXPOSED in verdict(degrade.exposure(img, stops=1.5)) for img in samples]
    under = [quality.UNDER_EXPOSED in verdict(degrade.exposure(img, stops=-3)) for img in samples]
    assert all(over) and all(under)


def test_a_dim_but_sharp_photo_is_not_called_blurred(samples):
    assert all(quality.BLURRED not in verdict(degrade.exposure(img, stops=-2)) for img in samples[:16])


def test_the_label_names_every_reason():
    assert quality.retake_label([]) == ""
    assert (
        quality.retake_label([quality.BLURRED, quality.OVER_EXPOSED])
        == "quality: retake advised (blurred, over-exposed)"
    )
