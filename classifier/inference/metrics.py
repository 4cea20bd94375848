"""Melanoma-vs-rest metrics, operating threshold, calibration and patient-level bootstrap CIs.

Shared by training (validation, test and external splits) and by a clinic's local validation
(`classifier.operating_points`), so that both publish the same figures computed the same way."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from sklearn.metrics import average_precision_score, roc_auc_score

from .scoring import log_odds, melanoma_score

_EPS = 1e-7


def _arrays(y: Sequence[int], p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=int)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape or y_arr.ndim != 1:
        raise ValueError("labels and scores must be 1-D and of equal length")
    return y_arr, p_arr


def roc_auc(y: Sequence[int], p: Sequence[float]) -> float:
    y_arr, p_arr = _arrays(y, p)
    if len(np.unique(y_arr)) < 2:
        return float("nan")
    return float(roc_auc_score(y_arr, p_arr))


def auprc(y: Sequence[int], p: Sequence[float]) -> float:
    y_arr, p_arr = _arrays(y, p)
    if y_arr.sum() == 0:
        return float("nan")
    return float(average_precision_score(y_arr, p_arr))


def threshold_for_sensitivity(y: Sequence[int], p: Sequence[float], target: float) -> float:
    """The highest threshold whose sensitivity (score >= threshold) reaches `target`."""
    y_arr, p_arr = _arrays(y, p)
    positives = np.sort(p_arr[y_arr == 1])[::-1]
    if positives.size == 0:
        raise ValueError("cannot choose a sensitivity threshold without positives")
    needed = math.ceil(target * positives.size - 1e-9)
    return float(positives[max(needed, 1) - 1])


def confusion(y: Sequence[int], p: Sequence[float], threshold: float) -> dict[str, int]:
    y_arr, p_arr = _arrays(y, p)
    flagged = p_arr >= threshold
    return {
        "tp": int(np.sum(flagged & (y_arr == 1))),
        "fp": int(np.sum(flagged & (y_arr == 0))),
        "tn": int(np.sum(~flagged & (y_arr == 0))),
        "fn": int(np.sum(~flagged & (y_arr == 1))),
    }


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def operating_point(y: Sequence[int], p: Sequence[float], threshold: float) -> dict[str, float]:
    c = confusion(y, p, threshold)
    return {
        "sensitivity": _ratio(c["tp"], c["tp"] + c["fn"]),
        "specificity": _ratio(c["tn"], c["tn"] + c["fp"]),
        "ppv": _ratio(c["tp"], c["tp"] + c["fp"]),
        "npv": _ratio(c["tn"], c["tn"] + c["fn"]),
    }


def brier(y: Sequence[int], p: Sequence[float]) -> float:
    y_arr, p_arr = _arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def ece(y: Sequence[int], p: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error over equal-width bins; the last bin includes 1.0."""
    y_arr, p_arr = _arrays(y, p)
    index = np.minimum((p_arr * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(p_arr[mask].mean() - y_arr[mask].mean())
    return float(total / len(y_arr))


def reliability_bins(y: Sequence[int], p: Sequence[float], bins: int = 10) -> list[dict[str, float]]:
    y_arr, p_arr = _arrays(y, p)
    index = np.minimum((p_arr * bins).astype(int), bins - 1)
    return [
        {
            "lo": b / bins,
            "hi": (b + 1) / bins,
            "count": int(m.sum()),
            "confidence": float(p_arr[m].mean()),
            "frequency": float(y_arr[m].mean()),
        }
        for b in range(bins)
        if (m := index == b).any()
    ]


# Calibration ------------------------------------------------------------------------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def uncalibrated_probability(logits: np.ndarray, mel_index: int) -> np.ndarray:
    return _softmax(np.asarray(logits, dtype=float))[:, mel_index]


def _bce(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def apply_calibration(logits: np.ndarray, mel_index: int, calibration: dict[str, Any]) -> np.ndarray:
    """Calibrated melanoma probability, computed by the very function serving uses."""
    logits = np.asarray(logits, dtype=float)
    meta = {"num_classes": logits.shape[1], "melanoma_index": mel_index, "calibration": calibration}
    return melanoma_score(logits, meta)[1]


def fit_calibration(logits: np.ndarray, y: Sequence[int], mel_index: int, method: str) -> dict[str, Any]:
    """Fit on validation logits by minimising the melanoma-vs-rest log loss."""
    logits = np.asarray(logits, dtype=float)
    y_arr = np.asarray(y, dtype=float)
    if method == "none":
        return {"method": "none"}
    if method == "temperature":
        result = minimize_scalar(
            lambda log_t: _bce(y_arr, uncalibrated_probability(logits / math.exp(log_t), mel_index)),
            bounds=(math.log(0.05), math.log(20.0)),
            method="bounded",
        )
        return {"method": "temperature", "T": float(math.exp(result.x))}
    if method == "platt":
        return fit_platt(log_odds(uncalibrated_probability(logits, mel_index)), y_arr)
    raise ValueError(f"unknown calibration method {method!r}")


def fit_platt(z: Sequence[float], y: Sequence[int]) -> dict[str, Any]:
    """sigmoid(a·z + b) fitted to the labels by log loss; `z` is a log-odds score."""
    z_arr = np.asarray(z, dtype=float)
    y_arr = np.asarray(y, dtype=float)
    result = minimize(
        lambda ab: _bce(y_arr, 1.0 / (1.0 + np.exp(-(ab[0] * z_arr + ab[1])))),
        x0=np.array([1.0, 0.0]),
        method="Nelder-Mead",
    )
    return {"method": "platt", "a": float(result.x[0]), "b": float(result.x[1])}


# Bootstrap --------------------------------------------------------------------------------------


def bootstrap_ci(
    y: Sequence[int],
    p: Sequence[float],
    groups: Sequence[Any],
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile CI from resampling whole patients, so one patient's many images count once."""
    y_arr, p_arr = _arrays(y, p)
    group_arr = np.asarray(groups)
    unique, inverse = np.unique(group_arr, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        picked = rng.integers(0, len(unique), size=len(unique))
        idx = np.concatenate([members[g] for g in picked])
        value = metric(y_arr[idx], p_arr[idx])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return (float(lo), float(hi))


def binary_report(
    y: Sequence[int],
    p: Sequence[float],
    *,
    threshold: float,
    groups: Sequence[Any] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure we publish for one split, each with a patient-level 95% CI."""
    y_arr, p_arr = _arrays(y, p)
    groups = list(groups) if groups is not None else list(range(len(y_arr)))
    scalar: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "roc_auc": roc_auc,
        "auprc": auprc,
        "brier": brier,
        "ece": ece,
        **{
            name: (lambda yy, pp, name=name: operating_point(yy, pp, threshold)[name])
            for name in ("sensitivity", "specificity", "ppv", "npv")
        },
    }
    report: dict[str, Any] = {"n": int(len(y_arr)), "positives": int(y_arr.sum()), "threshold": threshold}
    for name, fn in scalar.items():
        report[name] = fn(y_arr, p_arr)
        if n_bootstrap:
            report[f"{name}_ci95"] = list(bootstrap_ci(y_arr, p_arr, groups, fn, n=n_bootstrap, seed=seed))
    report["confusion"] = confusion(y_arr, p_arr, threshold)
    return report
