"""Scores and integrity checks that serving needs without PyTorch: a worker on the ONNX Runtime
backend never imports torch (about 650 MB of resident memory for the CUDA build)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import numpy as np


class ArtifactIntegrityError(RuntimeError):
    """The artifact's bytes do not match the registered sha256: do not serve it."""


class ArtifactFormatError(ValueError):
    """The file is not a valid naevus artifact (missing or inconsistent meta)."""


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so that neither branch overflows in exp.
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def calibrate(logit: np.ndarray, calibration: Mapping) -> np.ndarray:
    """Calibrated probability from a binary (melanoma-vs-rest) logit."""
    method = calibration.get("method", "none")
    logit = np.asarray(logit, dtype=np.float64)
    if method == "none":
        return _sigmoid(logit)
    if method == "temperature":
        return _sigmoid(logit / float(calibration["T"]))
    if method == "platt":
        return _sigmoid(float(calibration["a"]) * logit + float(calibration["b"]))
    raise ArtifactFormatError(f"unknown calibration method {method!r}")


def log_odds(p: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def recalibrate(probability: np.ndarray, calibration: Mapping) -> np.ndarray:
    """A clinic's recalibration (`ClinicOperatingPoint`) of a probability the version already
    calibrated: the same `calibrate` on its log-odds, so one formula serves both layers."""
    return calibrate(log_odds(probability), calibration)


def melanoma_log_odds(logits: np.ndarray, melanoma_index: int) -> np.ndarray:
    """log(p_mel / (1 - p_mel)) of the plain softmax (the raw logit for a one-logit head), computed
    stably: the image model's score that the metadata fusion head takes (`fusion.FEATURES[0]`)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    raw = logits[:, melanoma_index]
    if logits.shape[1] == 1:
        return raw.copy()
    others = np.delete(logits, melanoma_index, axis=1)
    m = others.max(axis=1)
    return raw - (m + np.log(np.exp(others - m[:, None]).sum(axis=1)))


def melanoma_score(logits: np.ndarray, meta: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(raw_score, calibrated_probability, class_probs | None)`` for (N, C) logits.

    raw_score is always the melanoma logit. Binary head (C == 1): the
    probability is ``calibrate(logit)``, class_probs is None. Multi-class
    head: class_probs = softmax(logits / T) (T = 1 unless the calibration is
    "temperature", which is the usual multi-class temperature scaling) and
    the probability is its melanoma entry; for "platt" the probability is
    sigmoid(a·ℓ + b) with ℓ = log(p_mel / (1 − p_mel)) from the plain
    softmax. Training must fit T, a and b on these same quantities.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    n_classes = int(meta["num_classes"])
    if logits.shape[1] != n_classes:
        raise ValueError(f"logits have {logits.shape[1]} columns, meta says {n_classes}")
    idx = int(meta["melanoma_index"])
    calibration = meta["calibration"]
    raw = logits[:, idx].copy()
    if n_classes == 1:
        return raw, calibrate(raw, calibration), None
    method = calibration.get("method", "none")
    if method == "platt":
        return raw, calibrate(melanoma_log_odds(logits, idx), calibration), _softmax(logits)
    temperature = float(calibration["T"]) if method == "temperature" else 1.0
    if method not in ("none", "temperature"):
        raise ArtifactFormatError(f"unknown calibration method {method!r}")
    probs = _softmax(logits / temperature)
    return raw, probs[:, idx].copy(), probs
