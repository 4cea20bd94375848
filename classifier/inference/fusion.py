"""Metadata late fusion: the image model's melanoma log-odds plus age, sex and anatomic site.

One definition of the features, used by training (`training.core.fusion` fits the head on
validation) and by serving (`Engine` applies it). The fitted head lives in the artifact's meta
under ``"fusion"``, so the artifact's sha256 covers it:

- ``features``: the feature names, in order (``FEATURES``; a head with others is refused)
- ``age_center``, ``age_scale``: age enters as ``(age - center) / scale``; 0 with a flag when unknown
- ``coefficients`` (one per feature), ``intercept``: the logistic regression; its output is the
  fused melanoma log-odds
- ``calibration``: refitted on the fused validation log-odds (same methods as the image model's)
- ``threshold``: refitted on the fused calibrated validation probability for the run's target
  sensitivity; what the served decision uses
- ``metrics``: figures of the fused model and of the image model alone (free form)

Every field may be missing for a given image; each has a "missing" state the head was fitted with.
No Django, no PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .scoring import ArtifactFormatError, calibrate

# The six ISIC anatomic sites (SIIM-ISIC `anatom_site_general_challenge`); the portal's
# `AnatomicSite` uses the same strings. Anything else is "missing".
SITES = ("torso", "lower extremity", "upper extremity", "head/neck", "palms/soles", "oral/genital")
FEATURES = ("image_logit", "age", "age_missing", "male", "female", *(f"site:{s}" for s in SITES))
# What a prediction records as used, in this order.
FIELDS = ("age", "sex", "site")
AGE_CENTER = 50.0
AGE_SCALE = 20.0
HEAD_KEYS = ("features", "age_center", "age_scale", "coefficients", "intercept", "calibration", "threshold")


@dataclass(frozen=True)
class Metadata:
    """What is known about the patient and lesion of one image; None: unknown."""

    age: float | None = None
    sex: str | None = None
    site: str | None = None

    @classmethod
    def normalised(cls, *, age: float | str | None, sex: str | None, site: str | None) -> Metadata:
        """Unknown, unparseable or out-of-vocabulary values become None (the head's missing state)."""
        try:
            age_value: float | None = float(age) if age not in (None, "") else None
        except (TypeError, ValueError):
            age_value = None
        if age_value is not None and not (math.isfinite(age_value) and 0 <= age_value <= 120):
            age_value = None
        sex_value = (sex or "").strip().lower()
        site_value = (site or "").strip().lower()
        return cls(
            age=age_value,
            sex=sex_value if sex_value in ("male", "female") else None,
            site=site_value if site_value in SITES else None,
        )

    @property
    def used(self) -> list[str]:
        """The fields the head could use for this image, e.g. ``["age", "sex"]``."""
        known = {"age": self.age is not None, "sex": self.sex is not None, "site": self.site is not None}
        return [name for name in FIELDS if known[name]]


def features(metadata: Sequence[Metadata], image_logit: np.ndarray, *, center: float, scale: float) -> np.ndarray:
    """One row per image, columns as ``FEATURES``."""
    rows = []
    for meta, z in zip(metadata, np.asarray(image_logit, dtype=np.float64), strict=True):
        age, missing = (0.0, 1.0) if meta.age is None else ((meta.age - center) / scale, 0.0)
        rows.append([z, age, missing, meta.sex == "male", meta.sex == "female", *(meta.site == s for s in SITES)])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


def validate_head(head: Mapping) -> None:
    missing = [k for k in HEAD_KEYS if k not in head]
    if missing:
        raise ArtifactFormatError(f"fusion head lacks {missing}")
    if list(head["features"]) != list(FEATURES):
        raise ArtifactFormatError(f"fusion head features {head['features']!r} are not {list(FEATURES)!r}")
    if len(head["coefficients"]) != len(FEATURES):
        raise ArtifactFormatError(f"{len(head['coefficients'])} fusion coefficients for {len(FEATURES)} features")
    if not float(head["age_scale"]) > 0:
        raise ArtifactFormatError("fusion age_scale must be positive")
    if not 0.0 <= float(head["threshold"]) <= 1.0:
        raise ArtifactFormatError(f"fusion threshold {head['threshold']} not a probability")
    method = head["calibration"].get("method")
    if method not in ("none", "temperature", "platt"):
        raise ArtifactFormatError(f"unknown fusion calibration method {method!r}")
    if method == "temperature" and not float(head["calibration"]["T"]) > 0:
        raise ArtifactFormatError("fusion temperature must be positive")


def fused_log_odds(head: Mapping, metadata: Sequence[Metadata], image_logit: np.ndarray) -> np.ndarray:
    x = features(metadata, image_logit, center=float(head["age_center"]), scale=float(head["age_scale"]))
    return x @ np.asarray(head["coefficients"], dtype=np.float64) + float(head["intercept"])


def fused_probability(head: Mapping, metadata: Sequence[Metadata], image_logit: np.ndarray) -> np.ndarray:
    """The served probability: the head's log-odds, calibrated as the head says."""
    return calibrate(fused_log_odds(head, metadata, image_logit), head["calibration"])
