"""Does the CAM show what the model uses? Two checks on a model trained on synthetic blobs.

(a) The peak follows the evidence: move the blob, the peak moves with it.
(b) Model-randomisation sanity check (Adebayo et al., 2018): the same
    architecture with random weights gives a map unrelated to the trained one.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from classifier.inference.backends import TorchPredictor
from classifier.inference.factory import create_model

SIZE = 128  # test_efficientnet has stride 32: a 4×4 map


def blobs(centres, size=SIZE):
    """(N, size, size) Gaussian blobs of height 1; zeros where the centre is None."""
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.zeros((len(centres), size, size), np.float32)
    for blob, centre in zip(out, centres):
        if centre is not None:
            blob[:] = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * 8.0**2))
    return out


def blob_batch(centres, rng, size=SIZE):
    """Noise images, plus a bright blob at each centre that is not None."""
    noise = rng.normal(0.0, 0.3, (len(centres), 3, size, size)).astype(np.float32)
    return noise + 3.0 * blobs(centres, size)[:, None]


def random_centres(n, rng, p_blob=0.5):
    return [tuple(rng.uniform(16, SIZE - 16, 2)) if rng.random() < p_blob else None for _ in range(n)]


@pytest.fixture(scope="module")
def blob_detector():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = create_model("test_efficientnet", num_classes=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(30):
        centres = random_centres(16, rng)
        target = torch.tensor([c is not None for c in centres], dtype=torch.float32)
        loss = F.binary_cross_entropy_with_logits(model(torch.from_numpy(blob_batch(centres, rng)))[:, 0], target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    # Thirty steps leave BatchNorm's running averages behind the weights;
    # re-estimate them as a plain average over a few fresh batches.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    with torch.no_grad():
        for _ in range(4):
            model(torch.from_numpy(blob_batch(random_centres(16, rng), rng)))
    return TorchPredictor(model.eval(), device="cpu")


def test_the_trained_model_detects_blobs(blob_detector):
    rng = np.random.default_rng(1)
    logits, _, _ = blob_detector.predict(blob_batch([(40, 90), None, (100, 30), None], rng))
    assert logits[0, 0] > 0 and logits[2, 0] > 0
    assert logits[1, 0] < 0 and logits[3, 0] < 0


@pytest.mark.parametrize("centre", [(24, 24), (24, 104), (104, 24), (104, 104)])
def test_the_cam_peak_follows_the_blob(blob_detector, centre):
    _, cam, _ = blob_detector.predict(blob_batch([centre], np.random.default_rng(2)))
    row, col = np.unravel_index(cam[0].argmax(), cam[0].shape)
    half = cam.shape[1] // 2
    assert (row >= half) == (centre[0] >= SIZE // 2)
    assert (col >= half) == (centre[1] >= SIZE // 2)


def test_a_randomised_model_gives_a_cam_unrelated_to_the_trained_one(blob_detector):
    rng = np.random.default_rng(3)
    centres = [tuple(c) for c in rng.uniform(16, SIZE - 16, (32, 2))]
    images = blob_batch(centres, rng)
    torch.manual_seed(1)
    randomised = TorchPredictor(create_model("test_efficientnet", num_classes=1).eval(), device="cpu")
    _, trained_cam, _ = blob_detector.predict(images)
    _, random_cam, _ = randomised.predict(images)

    # Where the blob is, pooled to the CAM grid: what a faithful map should track.
    blob_map = F.adaptive_avg_pool2d(torch.from_numpy(blobs(centres)), trained_cam.shape[1:]).numpy()
    assert np.corrcoef(trained_cam.ravel(), blob_map.ravel())[0, 1] > 0.5
    assert abs(np.corrcoef(trained_cam.ravel(), random_cam.ravel())[0, 1]) < 0.3
