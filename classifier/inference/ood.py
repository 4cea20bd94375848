"""Where an image lies in the model's embedding space: out of distribution, and odd one out.

Both read the pooled embedding the network already computes (the linear head's input; the third
ONNX output), so they add one matrix-vector product per image.

**Out of distribution** ("outside what this model was trained on"): the Mahalanobis distance of an
image's embedding to the training images' embeddings, with the Ledoit-Wolf shrunk covariance
(``sklearn.covariance.LedoitWolf``: well conditioned even with fewer images than dimensions). The
flag threshold is a high percentile (99th by default) of the distances of held-out images of the same
kind (the run's validation split; for a folder, each image's distance under the statistics of the
other folds), so about 1 % of in-distribution images are flagged by construction. Stored in the
artifact's meta under ``"ood"``, so the artifact's sha256 covers it; a model without it serves with
no score and no flag.

The covariance is stored as its top ``k`` eigenpairs plus the mean of the other eigenvalues (the
probabilistic-PCA form, Tipping & Bishop 1999): ``d² = Σᵢ (vᵢ·x)²/λᵢ + (‖x‖² − Σᵢ (vᵢ·x)²)/λ_rest``.
This is exact when the training set has at most ``k`` + 1 images (the shrunk covariance then has
one eigenvalue beyond the top ``k``) and otherwise keeps the ``k`` largest directions and averages
the rest; it keeps ``meta`` a few hundred kB instead of a K×K matrix. Arrays are stored as base64
little-endian float32.

**Odd one out** ("ugly duckling"): for a patient's lesions, each one's Euclidean distance to the mean
of the others' embeddings, divided by the median of those distances over the patient's lesions.
Within-patient dissimilarity, not a diagnosis. With the ImageNet Lite0 backbone the lesion of another
diagnosis among four of one diagnosis (samples/isic, random patients) comes out on top in 39 % of
patients against 20 % by chance (L2-normalised embeddings: 34 %), so it is a weak signal there.

No Django, no PyTorch; sklearn only when fitting.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping

import numpy as np

from .scoring import ArtifactFormatError

OOD_METHOD = "mahalanobis-ledoit-wolf"
DEFAULT_PERCENTILE = 99.0
DEFAULT_COMPONENTS = 64
OOD_KEYS = ("method", "dim", "mean", "components", "variances", "residual_variance", "threshold", "percentile")
# Lesions a patient needs before the odd one out means anything: with two, each is as far from the other.
MIN_OUTLIER_LESIONS = 3


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> np.ndarray:
    array = np.frombuffer(base64.b64decode(text), dtype="<f4")
    if array.size != math.prod(shape):
        raise ArtifactFormatError(f"ood array holds {array.size} values, expected shape {shape}")
    return array.reshape(shape).astype(np.float64)


def fit_stats(
    fit: np.ndarray,
    calibration: np.ndarray,
    *,
    percentile: float = DEFAULT_PERCENTILE,
    components: int = DEFAULT_COMPONENTS,
    source: str = "",
) -> dict:
    """The ``"ood"`` meta entry: statistics of ``fit`` (N, K) embeddings, threshold from ``calibration``
    (M, K) embeddings of other in-distribution images (their distances' ``percentile``)."""
    from sklearn.covariance import LedoitWolf

    fit = np.asarray(fit, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    if fit.ndim != 2 or len(fit) < 2 or calibration.ndim != 2 or len(calibration) < 1:
        raise ValueError("need at least 2 embeddings to fit and 1 to set the threshold")
    if calibration.shape[1] != fit.shape[1]:
        raise ValueError(f"embedding sizes differ: {fit.shape[1]} and {calibration.shape[1]}")
    if not 50.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [50, 100), got {percentile}")
    lw = LedoitWolf().fit(fit)
    eigenvalues, eigenvectors = np.linalg.eigh(lw.covariance_)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    dim = fit.shape[1]
    k = max(1, min(components, dim - 1))
    stats = {
        "method": OOD_METHOD,
        "dim": dim,
        "mean": _encode(lw.location_),
        "components": _encode(eigenvectors[:, :k].T),
        "variances": _encode(eigenvalues[:k]),
        "residual_variance": float(eigenvalues[k:].mean()),
        "shrinkage": float(lw.shrinkage_),
        "threshold": 0.0,
        "percentile": float(percentile),
        "n_fit": int(len(fit)),
        "n_calibration": int(len(calibration)),
        "source": source,
    }
    distances = ood_scores(stats, calibration)
    stats["threshold"] = float(np.percentile(distances, percentile))
    validate_stats(stats)
    return stats


def fit_stats_cross_validated(
    embeddings: np.ndarray, *, folds: int = 5, seed: int = 0, percentile: float = DEFAULT_PERCENTILE, source: str = ""
) -> dict:
    """For a folder without a separate validation set: statistics fitted on all of ``embeddings``, the
    threshold from each image's distance under the statistics of the other folds (out of fold). A
    small folder's held-out part would give a threshold from a handful of distances."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(embeddings) < 2 * folds:
        raise ValueError(f"need at least {2 * folds} embeddings for {folds} folds, got {len(embeddings)}")
    fold_of = np.random.default_rng(seed).permutation(len(embeddings)) % folds
    out_of_fold = np.concatenate(
        [
            ood_scores(fit_stats(embeddings[fold_of != f], embeddings[fold_of == f]), embeddings[fold_of == f])
            for f in range(folds)
        ]
    )
    stats = fit_stats(embeddings, embeddings, percentile=percentile, source=source)
    stats["threshold"] = float(np.percentile(out_of_fold, percentile))
    stats["n_calibration"] = int(len(out_of_fold))
    stats["calibration"] = f"{folds}-fold out-of-fold distances"
    return stats


def validate_stats(stats: Mapping) -> None:
    missing = [k for k in OOD_KEYS if k not in stats]
    if missing:
        raise ArtifactFormatError(f"ood stats lack {missing}")
    if stats["method"] != OOD_METHOD:
        raise ArtifactFormatError(f"unknown ood method {stats['method']!r}")
    if not float(stats["residual_variance"]) > 0 or not float(stats["threshold"]) >= 0:
        raise ArtifactFormatError("ood residual_variance must be positive and threshold non-negative")
    _unpack(stats)


def _unpack(stats: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dim = int(stats["dim"])
    variances = np.frombuffer(base64.b64decode(stats["variances"]), dtype="<f4").astype(np.float64)
    k = len(variances)
    if not 1 <= k < dim or not np.all(variances > 0):
        raise ArtifactFormatError(f"ood variances: {k} positive values expected for dim {dim}")
    return _decode(stats["mean"], (dim,)), _decode(stats["components"], (k, dim)), variances


def ood_scores(stats: Mapping, embeddings: np.ndarray) -> np.ndarray:
    """Mahalanobis distance (N,) of each embedding (N, K) to the fitted training distribution."""
    mean, components, variances = _unpack(stats)
    x = np.asarray(embeddings, dtype=np.float64) - mean
    projected = x @ components.T
    inside = (projected**2 / variances).sum(axis=1)
    outside = np.maximum((x**2).sum(axis=1) - (projected**2).sum(axis=1), 0.0)
    return np.sqrt(inside + outside / float(stats["residual_variance"]))


def ood_flags(stats: Mapping, scores: np.ndarray) -> np.ndarray:
    return np.asarray(scores) > float(stats["threshold"])


def lesion_outlier_scores(embeddings: Mapping[int, np.ndarray]) -> dict[int, float]:
    """Odd one out among one patient's lesions (key → embedding of its latest image): each lesion's
    Euclidean distance to the mean of the others' embeddings, divided by the median of those distances
    over the patient. Empty with fewer than ``MIN_OUTLIER_LESIONS`` lesions."""
    if len(embeddings) < MIN_OUTLIER_LESIONS:
        return {}
    keys = list(embeddings)
    x = np.stack([np.asarray(embeddings[k], dtype=np.float64) for k in keys])
    n = len(keys)
    others_mean = (x.sum(axis=0, keepdims=True) - x) / (n - 1)
    distances = np.linalg.norm(x - others_mean, axis=1)
    spread = float(np.median(distances))
    if spread <= 0:
        return {k: 0.0 for k in keys}
    return {k: float(d / spread) for k, d in zip(keys, distances, strict=True)}
