"""Image-quality gate: is this photo good enough for its score to mean anything?

Measured on the crop the model sees (``Preprocess.geometry``), brought to ``QUALITY_SIZE`` so that
one set of thresholds serves every model size:

- **sharpness**: variance of the Laplacian of the grey image (Pech-Pacheco et al. 2000), over the
  squared mean level. A blurred or shaken photo loses the fine network and dots the model reads.
- **exposure**: the share of clipped highlights (any channel ≥ 250) and of crushed shadows (luma ≤ 10),
  pixels that carry no information, and the 95th-percentile luma (a photo too dark all over).
- **framing**: the share of the skin area taken by the lesion (Otsu on the grey image, dark side,
  vignette excluded): a lesion lost in a wide field, or one that spills over the frame.

OpenCV (already a runtime dependency, for albumentations) does the arithmetic: 4.3 ms of CPU per
image, 8.0 % of the worker engine's (``bench/image_quality.py``). The thresholds in ``THRESHOLDS``
come from that bench: real dermoscopy against degraded copies of it, each set so that at most 2 %
of the good images are flagged. No Django here: the worker's engine calls ``assess``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

QUALITY_SIZE = 224

# Reason codes, in the order they are reported; the label is what a clinician reads.
BLURRED = "blurred"
OVER_EXPOSED = "over_exposed"
UNDER_EXPOSED = "under_exposed"
LESION_TOO_SMALL = "lesion_too_small"
LESION_FILLS_FRAME = "lesion_fills_frame"
REASON_LABELS = {
    BLURRED: "blurred",
    OVER_EXPOSED: "over-exposed",
    UNDER_EXPOSED: "under-exposed",
    LESION_TOO_SMALL: "lesion too small in the frame",
    LESION_FILLS_FRAME: "lesion fills the frame",
}

_VIGNETTE_LUMA = 10  # below this a pixel is the dermatoscope's black surround (or crushed shadow)
_HIGHLIGHT_LUMA = 250
_MIN_LESION_CONTRAST = 12.0  # grey levels between the Otsu classes' means: below it, no lesion is visible


@dataclass(frozen=True)
class Thresholds:
    """An image is flagged when a measure falls on the wrong side of its limit."""

    min_sharpness: float
    max_highlights: float
    max_shadows: float
    min_brightness: float
    min_lesion_fraction: float
    max_lesion_fraction: float


# Measured by `python bench/image_quality.py` on 300 real dermoscopy images (README, "Image quality"):
# each limit sits near the 0.5 % quantile of the good images (brightness and shadows, whose faults are
# far away, further out), so that all checks together flag 2.0 % of them (chosen on that same set).
THRESHOLDS = Thresholds(
    min_sharpness=2.7,
    max_highlights=0.61,
    max_shadows=0.40,
    min_brightness=100.0,
    min_lesion_fraction=0.01,
    max_lesion_fraction=0.75,
)


@dataclass(frozen=True)
class Measures:
    sharpness: float
    highlights: float
    shadows: float
    brightness: float
    lesion_fraction: float

    def to_dict(self) -> dict:
        return {k: round(float(v), 5) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Quality:
    measures: Measures
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def measure(crop: np.ndarray) -> Measures:
    """``crop``: uint8 H×W×3 RGB, the model's square crop."""
    if crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 array, got shape {crop.shape}")
    if crop.shape[0] != QUALITY_SIZE or crop.shape[1] != QUALITY_SIZE:
        interpolation = cv2.INTER_AREA if crop.shape[0] > QUALITY_SIZE else cv2.INTER_CUBIC
        crop = cv2.resize(crop, (QUALITY_SIZE, QUALITY_SIZE), interpolation=interpolation)
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    # The Laplacian is linear: a darker exposure scales its variance by the gain squared. Dividing by
    # the squared mean level (relative to mid-grey) keeps a dim but sharp photo from reading as blurred.
    level = max(float(grey.mean()), 1.0) / 128.0
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var()) / (level * level)
    # Over-exposure clips the brightest channel first (skin is red): count any channel at the top.
    # (np.maximum over the three planes: the same values as crop.max(axis=2), ten times faster on uint8.)
    brightest = np.maximum(np.maximum(crop[..., 0], crop[..., 1]), crop[..., 2])
    highlights = float(np.mean(brightest >= _HIGHLIGHT_LUMA))
    dark = grey <= _VIGNETTE_LUMA
    shadows = float(np.mean(dark))
    # The bright end of the image (skin, not the vignette): low when the whole photo is too dark.
    brightness = _percentile_95(grey)
    return Measures(
        sharpness=sharpness,
        highlights=highlights,
        shadows=shadows,
        brightness=brightness,
        lesion_fraction=_lesion_fraction(grey, dark),
    )


def _percentile_95(values: np.ndarray) -> float:
    """np.percentile(values, 95) (linear interpolation), from a partial sort of the two ranks it needs."""
    flat = values.reshape(-1)
    position = 0.95 * (flat.size - 1)
    low, high = int(np.floor(position)), int(np.ceil(position))
    part = np.partition(flat, [low, high])
    return float(part[low]) + (float(part[high]) - float(part[low])) * (position - low)


def _lesion_fraction(grey: np.ndarray, dark: np.ndarray) -> float:
    skin = grey[~dark]
    if skin.size < grey.size * 0.1:
        return 0.0
    smooth = cv2.GaussianBlur(grey, (0, 0), 2.0)[~dark]
    level, _ = cv2.threshold(smooth.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    lesion = smooth <= level
    if lesion.all() or not lesion.any():
        return float(lesion.mean())
    if float(smooth[~lesion].mean()) - float(smooth[lesion].mean()) < _MIN_LESION_CONTRAST:
        return 0.0
    return float(lesion.mean())


def judge(measures: Measures, thresholds: Thresholds = THRESHOLDS) -> tuple[str, ...]:
    reasons = []
    if measures.sharpness < thresholds.min_sharpness:
        reasons.append(BLURRED)
    if measures.highlights > thresholds.max_highlights:
        reasons.append(OVER_EXPOSED)
    if measures.shadows > thresholds.max_shadows or measures.brightness < thresholds.min_brightness:
        reasons.append(UNDER_EXPOSED)
    if measures.lesion_fraction < thresholds.min_lesion_fraction:
        reasons.append(LESION_TOO_SMALL)
    elif measures.lesion_fraction > thresholds.max_lesion_fraction:
        reasons.append(LESION_FILLS_FRAME)
    return tuple(reasons)


def assess(crop: np.ndarray, thresholds: Thresholds = THRESHOLDS) -> Quality:
    measures = measure(crop)
    return Quality(measures=measures, reasons=judge(measures, thresholds))


def retake_label(reasons: list[str] | tuple[str, ...]) -> str:
    """'quality: retake advised (blurred, over-exposed)'; empty when nothing is wrong."""
    if not reasons:
        return ""
    return f"quality: retake advised ({', '.join(REASON_LABELS.get(r, r) for r in reasons)})"
