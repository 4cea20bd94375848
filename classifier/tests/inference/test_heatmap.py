import io

import numpy as np
from PIL import Image

from classifier.inference.heatmap import cam_to_mask_png, cam_to_overlay_png, class_activation_map, normalize_cam


def _grey(size=64):
    return Image.new("RGB", (size, size), (128, 128, 128))


def test_the_overlay_is_a_png_of_the_input_size_coloured_where_the_cam_is_high():
    cam = np.zeros((4, 4), np.float32)
    cam[0, 3] = 5.0  # top-right cell
    overlay = np.asarray(Image.open(io.BytesIO(cam_to_overlay_png(_grey(), cam))))
    assert overlay.shape == (64, 64, 3)
    hot, cold = overlay[4, 60].astype(int), overlay[60, 4].astype(int)
    assert hot[0] > hot[1] + 50 and hot[0] > hot[2] + 50  # jet's (dark) red end over grey
    np.testing.assert_array_equal(cold, [128, 128, 128])


def test_a_cam_without_positive_evidence_leaves_the_image_untouched():
    overlay = Image.open(io.BytesIO(cam_to_overlay_png(_grey(), -np.ones((3, 3), np.float32))))
    np.testing.assert_array_equal(np.asarray(overlay), np.asarray(_grey()))


def test_normalize_cam_scales_positive_evidence_to_one():
    out = normalize_cam(np.array([[-2.0, 1.0], [2.0, 4.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]])


def test_the_mask_is_a_greyscale_png_of_the_requested_size():
    mask = Image.open(io.BytesIO(cam_to_mask_png(np.eye(3, dtype=np.float32), (30, 20))))
    assert mask.mode == "L" and mask.size == (30, 20)
    assert np.asarray(mask).max() == 255


def test_class_activation_map_is_the_weighted_channel_sum():
    features = np.random.default_rng(0).normal(size=(2, 5, 3, 3)).astype(np.float32)
    weights = np.arange(5, dtype=np.float32)
    expected = (features * weights[None, :, None, None]).sum(1)
    np.testing.assert_allclose(class_activation_map(features, weights), expected, rtol=1e-5)
