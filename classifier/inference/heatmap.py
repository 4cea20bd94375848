"""Class activation maps and their rendering. numpy + PIL only (hot path)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def class_activation_map(features: np.ndarray, weight_row: np.ndarray) -> np.ndarray:
    """CAM = Σ_k w_k · F_k for (N, K, h, w) features and one class's (K,) weights.

    Its spatial mean plus the class bias is that class's logit, so the map is
    an exact decomposition of the score, not an approximation of it.
    """
    return np.einsum("nkhw,k->nhw", features.astype(np.float32, copy=False), weight_row.astype(np.float32))


def normalize_cam(cam: np.ndarray) -> np.ndarray:
    """Positive evidence scaled to [0, 1] (Grad-CAM's ReLU); all zeros if none."""
    pos = np.maximum(cam.astype(np.float32), 0.0)
    peak = float(pos.max()) if pos.size else 0.0
    return pos / peak if peak > 0 else pos


def _jet_lut() -> np.ndarray:
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)]
    return (np.stack(channels, axis=1) * 255.0 + 0.5).astype(np.uint8)


JET = _jet_lut()


def upsample_cam(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised CAM resized to ``size`` = (width, height), values in [0, 1]."""
    small = Image.fromarray(normalize_cam(cam), mode="F")
    return np.clip(np.asarray(small.resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Level 3 is a few times faster than the default for ~10 % more bytes.
    img.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def cam_to_overlay_png(image: Image.Image, cam: np.ndarray, *, max_alpha: float = 0.6) -> bytes:
    """Blend a jet-coloured CAM over ``image`` (the cropped model input), as PNG.

    Opacity follows the activation, so regions the model ignores show the
    lesion unobscured instead of under a blue wash.
    """
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    heat = upsample_cam(cam, image.size)
    colour = JET[np.rint(heat * 255.0).astype(np.uint8)].astype(np.float32)
    alpha = (max_alpha * heat)[..., None]
    out = rgb * (1.0 - alpha) + colour * alpha
    return _png(Image.fromarray(np.rint(out).astype(np.uint8), mode="RGB"))


def cam_to_mask_png(cam: np.ndarray, size: tuple[int, int]) -> bytes:
    """The normalised CAM as an 8-bit greyscale PNG of ``size`` (for client-side colouring)."""
    heat = upsample_cam(cam, size)
    return _png(Image.fromarray(np.rint(heat * 255.0).astype(np.uint8), mode="L"))
