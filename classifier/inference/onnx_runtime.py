"""ONNX Runtime on the CPU, without PyTorch: what a CPU inference worker imports."""

from __future__ import annotations

import json
import os
from typing import Protocol

import numpy as np
import onnxruntime as ort

from .heatmap import class_activation_map

# Keys in the ONNX file's metadata_props: the artifact it was exported from, and what serving needs
# from that artifact (its meta and the classifier weights that turn features into a CAM), so that a
# worker can serve from the ONNX file alone after checking both files' sha256.
ONNX_ARTIFACT_KEY = "naevus_artifact_sha256"
ONNX_META_KEY = "naevus_meta"
ONNX_CAM_WEIGHTS_KEY = "naevus_cam_weights"
# The graph's outputs (``backends.export_onnx``).
ONNX_OUTPUTS = ("logits", "features", "embedding")


def spin_wait() -> bool:
    """Whether ONNX Runtime's threads spin-wait for work (its default) instead of sleeping.

    Off unless NAEVUS_ONNX_SPIN_WAIT=1. Between a worker's model batches (decoding the next images,
    heatmaps, storing results) spinning threads burnt the cores the decode thread and the web needed: on 2
    cores with it off a worker spent 23–24 CPU ms per 600×450 image instead of 31–35, and a 2,000-image
    batch ran at 41–47 img/s instead of 35–37 (`bench/run_all.py --only pipeline`, two runs each, 1 Dec
    2026). A machine with cores to spare for one back-to-back model may turn it on."""
    return os.environ.get("NAEVUS_ONNX_SPIN_WAIT", "0") == "1"


class Predictor(Protocol):
    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def _check_batch(batch: np.ndarray) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, S, S) batch, got shape {batch.shape}")
    return np.ascontiguousarray(batch, dtype=np.float32)


class OnnxPredictor:
    """ONNX Runtime on CPU.

    The session is created on first use in the process that uses it: a
    Celery prefork worker builds the predictor before forking, and an ORT
    session's thread pool does not survive a fork.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        *,
        class_weights: np.ndarray,
        melanoma_index: int,
        threads: int | None = None,
    ) -> None:
        self.onnx_path = os.fspath(onnx_path)
        weights = np.asarray(class_weights, dtype=np.float32)
        self.cam_weights = weights[melanoma_index] if weights.ndim == 2 else weights
        self.threads = threads
        self._session = None
        self._pid: int | None = None

    def _get_session(self):
        if self._session is None or self._pid != os.getpid():
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_wait() else "0")
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.onnx_path, options, providers=["CPUExecutionProvider"])
            self._pid = os.getpid()
        return self._session

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        session = self._get_session()
        if len(session.get_outputs()) == len(ONNX_OUTPUTS):
            logits, features, embedding = session.run(list(ONNX_OUTPUTS), {"input": _check_batch(batch)})
        else:
            # A registered export from before the embedding output (its sha256 is on record, so it is
            # not re-exported): the same global average pool, in NumPy.
            logits, features = session.run(list(ONNX_OUTPUTS[:2]), {"input": _check_batch(batch)})
            embedding = features.mean(axis=(2, 3))
        return logits, class_activation_map(features, self.cam_weights), embedding


def read_serving_metadata(onnx_path: str | os.PathLike) -> tuple[str, dict, np.ndarray] | None:
    """(artifact sha256, meta, classifier weights) stored at export, or None for an older export."""
    session = ort.InferenceSession(os.fspath(onnx_path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    if not {ONNX_ARTIFACT_KEY, ONNX_META_KEY, ONNX_CAM_WEIGHTS_KEY} <= props.keys():
        return None

    weights = np.asarray(json.loads(props[ONNX_CAM_WEIGHTS_KEY]), dtype=np.float32)
    return props[ONNX_ARTIFACT_KEY], json.loads(props[ONNX_META_KEY]), weights
