"""The serving artifact: weights plus everything needed to use them.

Separate from training checkpoints (no optimiser, no epoch counters). One
file, written atomically, identified by the sha256 of its bytes; the
registry stores that hash and a worker refuses to serve a file that no
longer matches it.

``meta`` (plain JSON types only, so ``torch.load(weights_only=True)`` reads it):

- ``format``: ``"naevus-artifact/1"``
- ``arch``: timm architecture name, for ``factory.create_model``
- ``num_classes``: 1 for a binary melanoma-vs-rest head (one logit), else C
- ``class_names``: list of C names (``["melanoma"]`` for a binary head)
- ``melanoma_index``: the melanoma class's position in the logits (0 for binary)
- ``preprocess``: ``Preprocess.to_dict()``
- ``threshold``: decision threshold on the *calibrated* probability
- ``calibration``: ``{"method": "temperature", "T": float}``,
  ``{"method": "platt", "a": float, "b": float}`` or ``{"method": "none"}``;
  applied to the melanoma logit
- ``metrics``: dict of validation/test figures (free form, JSON types)
- ``created_at``: ISO 8601 UTC timestamp
- ``is_demo``: True for untrained/synthetic models that must be labelled as such
- ``name``, ``version``: human identifiers shown in the portal
- ``fusion`` (optional): the metadata late-fusion head (``fusion.py``). When present, the served
  probability is the head's and ``fusion.threshold`` is the served threshold (``served_threshold``);
  ``threshold`` and ``calibration`` above stay those of the image model alone
- ``ood`` (optional): embedding statistics of the training images and the flag threshold for the
  out-of-distribution warning (``ood.py``; written by ``training.core.ood``). Absent: no score, no flag
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fusion import validate_head
from .ood import validate_stats
from .preprocessing import Preprocess
from .scoring import (  # noqa: F401 — re-exported: the artifact's API
    ArtifactFormatError,
    ArtifactIntegrityError,
    calibrate,
    melanoma_score,
    sha256_file,
)

ARTIFACT_FORMAT = "naevus-artifact/1"
ARTIFACT_NAME = "model.naevus.pt"
REQUIRED_META = (
    "format",
    "arch",
    "num_classes",
    "class_names",
    "melanoma_index",
    "preprocess",
    "threshold",
    "calibration",
    "metrics",
    "created_at",
    "is_demo",
    "name",
    "version",
)
CALIBRATION_METHODS = ("none", "temperature", "platt")

# torch is imported only where weights are read or written: the web process validates and registers
# meta without loading it.
if TYPE_CHECKING:
    import torch


@dataclass
class Artifact:
    meta: dict
    state_dict: dict[str, torch.Tensor]
    sha256: str

    @property
    def preprocess(self) -> Preprocess:
        return Preprocess.from_dict(self.meta["preprocess"])


def validate_meta(meta: Mapping) -> None:
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ArtifactFormatError(f"artifact meta lacks {missing}")
    if meta["format"] != ARTIFACT_FORMAT:
        raise ArtifactFormatError(f"unsupported artifact format {meta['format']!r}")
    n = meta["num_classes"]
    if not isinstance(n, int) or n < 1:
        raise ArtifactFormatError(f"num_classes must be a positive int, got {n!r}")
    if len(meta["class_names"]) != n:
        raise ArtifactFormatError(f"{len(meta['class_names'])} class_names for {n} classes")
    if not 0 <= meta["melanoma_index"] < n:
        raise ArtifactFormatError(f"melanoma_index {meta['melanoma_index']} out of range")
    if not 0.0 <= float(meta["threshold"]) <= 1.0:
        raise ArtifactFormatError(f"threshold {meta['threshold']} not a probability")
    method = meta["calibration"].get("method")
    if method not in CALIBRATION_METHODS:
        raise ArtifactFormatError(f"unknown calibration method {method!r}")
    if method == "temperature" and not float(meta["calibration"]["T"]) > 0:
        raise ArtifactFormatError("temperature must be positive")
    if meta.get("tta_views", 1) not in (1, 2, 4, 8):
        raise ArtifactFormatError(f"tta_views must be 1, 2, 4 or 8, got {meta['tta_views']!r}")
    if meta.get("fusion") is not None:
        validate_head(meta["fusion"])
    if meta.get("ood") is not None:
        validate_stats(meta["ood"])
    Preprocess.from_dict(meta["preprocess"])
    # Fails here, not in a worker at load time, if something is not JSON.
    json.dumps(dict(meta))


def build_meta(
    *,
    arch: str,
    class_names: list[str],
    preprocess: Preprocess,
    threshold: float,
    name: str,
    version: str,
    is_demo: bool,
    num_classes: int | None = None,
    melanoma_index: int = 0,
    calibration: dict | None = None,
    metrics: dict | None = None,
    tta_views: int = 1,
    fusion: dict | None = None,
) -> dict:
    """The one place an artifact's meta is put together (training, import, tests, bench); it is
    validated here, so a caller that forgets a field finds out before anything is written."""
    meta = {
        "format": ARTIFACT_FORMAT,
        "arch": arch,
        "num_classes": len(class_names) if num_classes is None else num_classes,
        "class_names": list(class_names),
        "melanoma_index": melanoma_index,
        "preprocess": preprocess.to_dict(),
        "threshold": threshold,
        "calibration": calibration or {"method": "none"},
        # Dihedral views the Engine averages per image; calibration and threshold were fitted for them.
        "tta_views": tta_views,
        "metrics": metrics or {},
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "is_demo": is_demo,
        "name": name,
        "version": version,
    }
    if fusion is not None:
        meta["fusion"] = fusion
    validate_meta(meta)
    return meta


def served_threshold(meta: Mapping) -> float:
    """The threshold a decision is taken on: the fusion head's when the artifact has one."""
    head = meta.get("fusion")
    return float(head["threshold"] if head is not None else meta["threshold"])


def served_metrics(meta: Mapping) -> dict:
    """The figures a registry shows and compares versions by: the image model's per split, and with a fusion
    head also ``fused`` (per split, the figures at the head's threshold, which is what decisions use). The
    image model's figures stay, since a clinic that records no age, sex or site is served it alone."""
    metrics = dict(meta.get("metrics") or {})
    head = meta.get("fusion")
    fused = {
        split: figures["fused"]
        for split, figures in ((head or {}).get("metrics") or {}).items()
        if isinstance(figures, Mapping) and isinstance(figures.get("fused"), Mapping)
    }
    if fused:
        metrics["fused"] = fused
    return metrics


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    Readers never see a half-written file, and a crash leaves the old one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates 0600; workers may run as another user.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_artifact(path: str | os.PathLike, *, state_dict: Mapping[str, torch.Tensor], meta: dict) -> str:
    """Write the artifact atomically and return the sha256 hex of the file."""
    import torch

    validate_meta(meta)
    weights = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save({"meta": dict(meta), "state_dict": weights}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        digest = sha256_file(tmp)
    return digest


def load_artifact(path: str | os.PathLike, *, expected_sha256: str | None) -> Artifact:
    """Read and verify an artifact.

    The bytes are hashed and then deserialised from the same buffer, so the
    file cannot change between the check and the load.
    """
    import torch

    with open(path, "rb") as fh:
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise ArtifactIntegrityError(f"artifact {os.fspath(path)!r} has sha256 {digest}, registered {expected_sha256}")
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "meta" not in payload or "state_dict" not in payload:
        raise ArtifactFormatError(f"{os.fspath(path)!r} is not a naevus artifact")
    validate_meta(payload["meta"])
    return Artifact(meta=payload["meta"], state_dict=payload["state_dict"], sha256=digest)
