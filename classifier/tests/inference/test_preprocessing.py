import io

import numpy as np
import pytest
from PIL import Image

from classifier.inference.preprocessing import (
    IMAGENET_MEAN,
    ImageDecodeError,
    Preprocess,
    open_image,
    shades_of_gray,
)

from .conftest import jpeg_bytes


def test_draft_decoding_gives_the_same_model_input_as_full_decoding(photo):
    big = photo.resize((2560, 1708), Image.Resampling.BICUBIC)
    data = jpeg_bytes(big)
    pre = Preprocess(img_size=224, color_constancy=None)
    drafted = np.asarray(pre.geometry(open_image(data, target_size=224)), dtype=np.float32)
    full = np.asarray(pre.geometry(Image.open(io.BytesIO(data)).convert("RGB")), dtype=np.float32)
    assert drafted.shape == full.shape == (224, 224, 3)
    assert np.abs(drafted - full).mean() < 2.0


def test_draft_decoding_shrinks_a_large_jpeg_but_not_below_the_target(photo):
    data = jpeg_bytes(photo.resize((2560, 1708)))
    img = open_image(data, target_size=224)
    assert min(img.size) >= 224
    assert img.size[0] <= 2560 // 4


def test_it_applies_the_exif_orientation():
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    data = jpeg_bytes(Image.fromarray(stored), exif=exif)
    arr = np.asarray(open_image(data, target_size=64))
    assert arr.shape == (40, 20, 3)
    top, bottom = arr[:15].reshape(-1, 3).mean(0), arr[-15:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_it_opens_paths_bytes_and_file_objects_alike(tmp_path, lesion_like_jpeg):
    path = tmp_path / "lesion.jpg"
    path.write_bytes(lesion_like_jpeg)
    arrays = [
        np.asarray(open_image(source, target_size=64))
        for source in (str(path), path, lesion_like_jpeg, io.BytesIO(lesion_like_jpeg))
    ]
    for arr in arrays[1:]:
        np.testing.assert_array_equal(arr, arrays[0])


def test_it_converts_greyscale_and_rgba_to_rgb():
    grey = Image.new("L", (30, 30), 128)
    rgba = Image.new("RGBA", (30, 30), (10, 20, 30, 128))
    for img in (grey, rgba):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        assert open_image(buf.getvalue(), target_size=16).mode == "RGB"


def test_it_rejects_a_truncated_jpeg(lesion_like_jpeg):
    with pytest.raises(ImageDecodeError, match="corrupt"):
        open_image(lesion_like_jpeg[: len(lesion_like_jpeg) // 2], target_size=64)


def test_it_rejects_bytes_that_are_not_an_image():
    with pytest.raises(ImageDecodeError, match="not a recognised image format"):
        open_image(b"%PDF-1.7 definitely not a picture", target_size=64)


def test_a_missing_file_is_not_reported_as_a_bad_image(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_image(tmp_path / "gone.jpg", target_size=64)


def test_shades_of_gray_equalises_the_channel_means_of_a_colour_cast_image(photo):
    grey = np.asarray(photo.convert("L"), dtype=np.float32)
    cast = np.stack([grey * 0.95, grey * 0.7, grey * 0.45], axis=-1).astype(np.uint8)
    before = cast.reshape(-1, 3).mean(0)
    assert before.max() - before.min() > 50
    after = shades_of_gray(cast).reshape(-1, 3).astype(np.float32).mean(0)
    assert after.max() - after.min() < 1.5


def test_grey_world_equalises_the_channel_means_of_any_image(photo):
    # Dim enough that no channel clips at 255 after correction.
    arr = np.asarray(photo, dtype=np.float32) * np.array([0.25, 0.4, 0.3], np.float32)
    means = shades_of_gray(arr, power=1).reshape(-1, 3).mean(0, dtype=np.float64)
    np.testing.assert_allclose(means, means.mean(), rtol=1e-4)


def test_shades_of_gray_leaves_a_black_image_black():
    black = np.zeros((8, 8, 3), np.uint8)
    np.testing.assert_array_equal(shades_of_gray(black), black)


def test_preprocess_round_trips_through_a_json_dict():
    import json

    pre = Preprocess(img_size=288, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), color_constancy=None, sog_power=4)
    assert Preprocess.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre


def test_preprocess_refuses_unknown_keys_and_methods():
    with pytest.raises(ValueError, match="unknown preprocessing keys"):
        Preprocess.from_dict({**Preprocess().to_dict(), "hair_removal": True})
    with pytest.raises(ValueError, match="color_constancy"):
        Preprocess(color_constancy="max_rgb")
    with pytest.raises(ValueError, match="resize"):
        Preprocess(resize="stretch")


def test_geometry_keeps_the_centre_square_of_a_landscape_image():
    arr = np.zeros((100, 300, 3), np.uint8)
    arr[:, :100] = 255  # left third, cropped away
    arr[:, 100:200] = (0, 255, 0)  # centre square, kept
    out = np.asarray(Preprocess(img_size=50).geometry(Image.fromarray(arr)))
    assert out.shape == (50, 50, 3)
    # The outermost columns blend with their neighbours outside the box, as
    # they would when resizing the whole image before cropping.
    inner = out[:, 2:-2]
    assert (inner[..., 1] > 250).all() and (inner[..., 0] < 5).all()


def test_normalize_returns_chw_float32_and_maps_the_mean_colour_to_zero():
    pre = Preprocess(img_size=8, color_constancy=None)
    arr = np.full((8, 8, 3), np.round(np.array(IMAGENET_MEAN) * 255), np.uint8)
    out = pre.normalize(arr)
    assert out.dtype == np.float32 and out.shape == (3, 8, 8)
    assert np.abs(out).max() < 0.01


def test_calling_preprocess_is_geometry_then_normalize(lesion_like_jpeg):
    pre = Preprocess(img_size=64)
    img = pre.open(lesion_like_jpeg)
    np.testing.assert_array_equal(pre(img), pre.normalize(np.asarray(pre.geometry(img))))
