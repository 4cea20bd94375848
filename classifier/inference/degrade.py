"""Capture faults made on purpose from a good photo, for the quality gate's bench and tests.

Each fault is sized relative to the image's short side, so that it looks the same at the model's
crop whatever the camera's resolution. Works on uint8 H×W×3 RGB arrays; returns the same.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def gaussian_blur(img: np.ndarray, *, sigma_fraction: float = 0.01) -> np.ndarray:
    """Out of focus: σ = 1 % of the short side is about 2 px at the model's 224 px crop."""
    sigma = max(0.5, sigma_fraction * min(img.shape[:2]))
    return cv2.GaussianBlur(img, (0, 0), sigma)


def motion_blur(img: np.ndarray, *, length_fraction: float = 0.03, angle_deg: float = 30.0) -> np.ndarray:
    """A shaken hand: a straight streak 3 % of the short side long."""
    length = max(3, int(round(length_fraction * min(img.shape[:2]))))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle_deg, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(img, -1, kernel / kernel.sum())


def exposure(img: np.ndarray, *, stops: float) -> np.ndarray:
    """Exposure changed by ``stops`` (+1 doubles the light), clipped and quantised like a sensor."""
    return np.clip(img.astype(np.float32) * (2.0**stops), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, *, quality: int = 5) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def zoom_out(img: np.ndarray, *, factor: float = 4.0) -> np.ndarray:
    """Taken from too far: the photo shrunk ``factor``× in the middle of a field of its own border skin."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, int(w / factor)), max(1, int(h / factor))), interpolation=cv2.INTER_AREA)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    canvas = np.empty_like(img)
    canvas[:] = np.median(border, axis=0).astype(np.uint8)
    top, left = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def zoom_in(img: np.ndarray, *, factor: float = 3.0) -> np.ndarray:
    """Taken from too close: the centre 1/``factor`` of the photo brought up to its full size."""
    h, w = img.shape[:2]
    ch, cw = int(h / factor), int(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[top : top + ch, left : left + cw], (w, h), interpolation=cv2.INTER_CUBIC)


FAULTS = {
    "gaussian blur (σ 1 % of short side)": gaussian_blur,
    "motion blur (3 % of short side)": motion_blur,
    "over-exposed (+1.5 stops)": lambda img: exposure(img, stops=1.5),
    "under-exposed (−3 stops)": lambda img: exposure(img, stops=-3.0),
    "heavy JPEG (q 5)": jpeg,
    "taken from too far (4× smaller)": zoom_out,
    "taken from too close (3× closer)": zoom_in,
}
