"""What a worker calls: verified artifact in, scored images out.

    engine = Engine.from_artifact(path, sha256=registered_sha256, onnx_path=onnx_path)
    results = engine.analyse([image_bytes, ...])

Build one ``Engine`` per worker process (after fork) and model version, and
reuse it. A source that cannot be decoded fails only its own ``Result``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import quality
from .fusion import Metadata, fused_probability
from .heatmap import cam_to_overlay_png
from .onnx_runtime import (
    ONNX_ARTIFACT_KEY,
    ONNX_CAM_WEIGHTS_KEY,
    ONNX_META_KEY,
    OnnxPredictor,
    Predictor,
    read_serving_metadata,
)
from .ood import ood_flags, ood_scores
from .preprocessing import ImageDecodeError, ImageSource, Preprocess
from .scoring import ArtifactIntegrityError, melanoma_log_odds, melanoma_score, sha256_file

# PyTorch (and timm) are imported only where a model must be built: export, the torch backends.
# A CPU worker serving from ONNX never loads them (about 850 MB of resident memory less).

log = logging.getLogger(__name__)

BACKEND_ONNX_CPU = "onnx-cpu"
BACKEND_TORCH_CUDA = "torch-cuda"

# Explicit-only backend: PyTorch on the CPU, for tests and debugging.
BACKEND_TORCH_CPU = "torch-cpu"
BACKENDS = (BACKEND_ONNX_CPU, BACKEND_TORCH_CUDA, BACKEND_TORCH_CPU)
# ONNX Runtime on 2 CPU cores gains nothing from batching (EfficientNet-B0,
# 224 px: batch 1/4/8/16 → 18.5/19.7/18.3/21.3 img/s, measured on a loaded
# machine), so 8 only bounds one call's memory and latency; a GPU wants more.
DEFAULT_BATCH_SIZE = {BACKEND_ONNX_CPU: 8, BACKEND_TORCH_CPU: 8, BACKEND_TORCH_CUDA: 32}
# Threads that decode and prepare images while the model runs (Engine.analyse); NAEVUS_DECODE_THREADS overrides.
# One on 2 cores: a second competes with ONNX Runtime's threads (bench/pipeline.py, issue 16 notes).
DEFAULT_DECODE_THREADS = 1


# The order views are added in, as training's `predict` adds them: identity, horizontal flip, half turn,
# vertical flip, then the transposed four.
TTA_ORDER = (0, 4, 2, 6, 1, 3, 5, 7)


def dihedral_view(batch: np.ndarray, k: int) -> np.ndarray:
    """The k-th rotation/reflection of an N×C×H×W batch, as `torch.rot90` then `flip(dims=(3,))`."""
    out = np.rot90(batch, k % 4, axes=(2, 3))
    return out[..., ::-1] if k >= 4 else out


def _select_backend() -> str:
    """NAEVUS_INFERENCE_BACKEND when set; else CUDA if this machine has an NVIDIA device (only then is
    torch imported to confirm it), else ONNX Runtime on the CPU."""
    chosen = os.environ.get("NAEVUS_INFERENCE_BACKEND", "auto")
    if chosen != "auto":
        return chosen
    if not any(os.path.exists(f"/dev/nvidia{i}") for i in range(16)):
        return BACKEND_ONNX_CPU
    from .backends import select_backend

    return select_backend()


@dataclass
class Result:
    """One image's outcome. On failure only ``error`` and ``decode_ms`` are set.

    ``inference_ms`` is the batch's network time divided by its size.
    ``class_probs`` maps class name → probability (multi-class heads only).
    ``quality`` is the image-quality gate's verdict on the model's crop (``quality.assess``).
    ``probability`` is what is served: the fusion head's when the artifact has one (then
    ``metadata_used`` lists the fields it had, e.g. ``["age", "sex"]``), else the image model's.
    ``image_probability`` is always the image model's alone, calibrated as the artifact says.
    ``embedding`` is the pooled embedding (averaged over the served views); ``ood_score`` its
    Mahalanobis distance to the training images and ``ood_flag`` whether it exceeds the artifact's
    threshold ("outside what this model was trained on"); both None for an artifact without ``ood``.
    """

    raw_score: float | None = None
    probability: float | None = None
    image_probability: float | None = None
    metadata_used: list[str] | None = None
    class_probs: dict[str, float] | None = None
    embedding: np.ndarray | None = None
    ood_score: float | None = None
    ood_flag: bool | None = None
    cam: np.ndarray | None = None
    heatmap_png: bytes | None = None
    quality: quality.Quality | None = None
    decode_ms: float = 0.0
    inference_ms: float = 0.0
    quality_ms: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _build_model(artifact):
    from .factory import create_model

    meta = artifact.meta
    model = create_model(meta["arch"], num_classes=int(meta["num_classes"]))
    model.load_state_dict(artifact.state_dict, strict=True)
    return model.eval()


def _export_for(artifact, onnx_path: str | os.PathLike) -> str:
    from .backends import export_onnx
    from .factory import cam_parts

    model = _build_model(artifact)
    metadata = {
        ONNX_ARTIFACT_KEY: artifact.sha256,
        ONNX_META_KEY: json.dumps(artifact.meta),
        ONNX_CAM_WEIGHTS_KEY: json.dumps(cam_parts(model).weight.tolist()),
    }
    export_onnx(model, onnx_path, img_size=artifact.preprocess.img_size, metadata=metadata)
    return sha256_file(onnx_path)


def prepare_onnx(artifact_path: str | os.PathLike, onnx_path: str | os.PathLike, *, sha256: str | None = None) -> str:
    """Export the artifact's model to ``onnx_path``; returns the ONNX file's sha256.

    The ONNX file records the artifact's sha256 in its metadata, so a worker
    can tell that it belongs to the artifact it verified. ``sha256`` (the
    artifact's registered hash) is checked first when given.
    """
    from .artifact import load_artifact

    return _export_for(load_artifact(artifact_path, expected_sha256=sha256), onnx_path)


class Engine:
    def __init__(self, *, meta: dict, sha256: str, predictor: Predictor, backend: str, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.meta = meta
        self.sha256 = sha256
        self.preprocess = Preprocess.from_dict(meta["preprocess"])
        self._quality_crop = Preprocess(img_size=quality.QUALITY_SIZE)
        self.predictor = predictor
        self.backend = backend
        self.batch_size = batch_size
        self.decode_threads = max(1, int(os.environ.get("NAEVUS_DECODE_THREADS", DEFAULT_DECODE_THREADS)))
        class_names = self.meta["class_names"]
        self._class_names = class_names if int(self.meta["num_classes"]) > 1 else None

    @classmethod
    def from_artifact(
        cls,
        artifact_path: str | os.PathLike,
        *,
        sha256: str | None,
        onnx_path: str | os.PathLike | None = None,
        onnx_sha256: str | None = None,
        backend: str | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
    ) -> Engine:
        """Load and verify the artifact, then build the backend.

        ``sha256`` is the registered hash (``ArtifactIntegrityError`` if the
        file differs; ``None`` skips the check, for tools only). For
        ``onnx-cpu`` the ONNX file at ``onnx_path`` (default: the artifact
        path + ``.onnx``) is exported when missing or made from another
        artifact; ``onnx_sha256``, when given, must match the file.
        """
        backend = backend or _select_backend()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known: {BACKENDS}")
        batch_size = batch_size or DEFAULT_BATCH_SIZE[backend]
        served = None
        if backend == BACKEND_ONNX_CPU:
            onnx_path = os.fspath(onnx_path or f"{os.fspath(artifact_path)}.onnx")
            if onnx_sha256 is not None:
                actual = sha256_file(onnx_path)
                if actual != onnx_sha256.lower():
                    raise ArtifactIntegrityError(
                        f"ONNX file {onnx_path!r} has sha256 {actual}, registered {onnx_sha256}"
                    )
            served = read_serving_metadata(onnx_path) if os.path.exists(onnx_path) else None
            if served is not None and sha256 is not None and served[0] == sha256.lower():
                # The registered ONNX twin of the registered artifact: serve it without PyTorch,
                # after checking the artifact's bytes too.
                actual = sha256_file(artifact_path)
                if actual != sha256.lower():
                    raise ArtifactIntegrityError(
                        f"artifact {os.fspath(artifact_path)!r} has sha256 {actual}, registered {sha256}"
                    )
                _, meta, weights = served
                predictor = OnnxPredictor(
                    onnx_path, class_weights=weights, melanoma_index=int(meta["melanoma_index"]), threads=threads
                )
                return cls(meta=meta, sha256=actual, predictor=predictor, backend=backend, batch_size=batch_size)
        from .artifact import load_artifact
        from .backends import TorchPredictor
        from .factory import cam_parts

        artifact = load_artifact(artifact_path, expected_sha256=sha256)
        meta = artifact.meta
        melanoma_index = int(meta["melanoma_index"])
        if backend == BACKEND_ONNX_CPU:
            if served is None or served[0] != artifact.sha256:
                log.info("exporting ONNX for artifact %s", artifact.sha256[:12])
                _export_for(artifact, onnx_path)
            predictor: Predictor = OnnxPredictor(
                onnx_path,
                class_weights=cam_parts(_build_model(artifact)).weight,
                melanoma_index=melanoma_index,
                threads=threads,
            )
        else:
            device = "cuda" if backend == BACKEND_TORCH_CUDA else "cpu"
            predictor = TorchPredictor(_build_model(artifact), device=device, melanoma_index=melanoma_index)
        return cls(meta=meta, sha256=artifact.sha256, predictor=predictor, backend=backend, batch_size=batch_size)

    @property
    def fusion(self) -> dict | None:
        """The artifact's metadata fusion head, or None (image only)."""
        return self.meta.get("fusion")

    @property
    def threshold(self) -> float:
        """The served threshold: on the fused probability when the artifact has a fusion head."""
        head = self.fusion
        return float(head["threshold"] if head is not None else self.meta["threshold"])

    @property
    def views(self) -> int:
        """Test-time views averaged per image; the artifact's calibration and threshold were fitted
        for exactly this number (training's `--serve-views`)."""
        return int(self.meta.get("tta_views", 1))

    def _predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits and embeddings averaged over the served views, run as one batch; the CAM is the
        unflipped view's."""
        views = self.views
        if views == 1:
            return self.predictor.predict(batch)
        stacked = np.concatenate([dihedral_view(batch, k) for k in TTA_ORDER[:views]])
        logits, cams, embeddings = self.predictor.predict(np.ascontiguousarray(stacked))
        n = len(batch)
        return (
            logits.reshape(views, n, *logits.shape[1:]).mean(axis=0),
            cams[:n],
            embeddings.reshape(views, n, -1).mean(axis=0),
        )

    def embed(self, sources: list[ImageSource]) -> np.ndarray:
        """Embeddings (N, K) of images that must decode (what ``ood`` statistics are fitted on)."""
        tensors = [
            self.preprocess.normalize(np.asarray(self.preprocess.geometry(self.preprocess.open(s)))) for s in sources
        ]
        chunks = [
            self._predict(np.stack(tensors[i : i + self.batch_size]))[2]
            for i in range(0, len(tensors), self.batch_size)
        ]
        return np.concatenate(chunks).astype(np.float32)

    def analyse(
        self, sources: list[ImageSource], metadata: list[Metadata] | None = None, *, render_heatmaps: bool = True
    ) -> list[Result]:
        """``metadata[i]`` describes ``sources[i]``; it is used only by an artifact with a fusion head
        (absent or None: every field unknown). ``render_heatmaps=False`` leaves ``heatmap_png`` empty and
        only ``cam`` set: the worker stores that and the overlay is drawn where it is looked at."""
        if metadata is not None and len(metadata) != len(sources):
            raise ValueError(f"{len(metadata)} metadata for {len(sources)} images")
        results = [Result() for _ in sources]
        # Decoding runs in a small pool (PIL's decoders and resampling release the GIL), in order, while this
        # thread runs the model on each batch as soon as its images are ready: with more than one batch the
        # model waits for at most one batch's decoding, and a single batch decodes on every pool thread.
        with ThreadPoolExecutor(max_workers=self.decode_threads, thread_name_prefix="naevus-decode") as pool:
            batch: list[tuple[int, object, np.ndarray]] = []
            for i, prepared in enumerate(pool.map(self._prepare, sources, results)):
                if prepared is not None:
                    batch.append((i, *prepared))
                if len(batch) == self.batch_size:
                    self._infer(batch, results, metadata, render_heatmaps=render_heatmaps)
                    batch = []
            if batch:
                self._infer(batch, results, metadata, render_heatmaps=render_heatmaps)
        return results

    def _prepare(self, source: ImageSource, result: Result) -> tuple[object, np.ndarray] | None:
        """Decode, crop and normalise one image, and assess its quality (a pool thread; ``result`` is this
        image's alone). None when it does not decode (``result.error`` says why)."""
        start = time.perf_counter()
        try:
            img = self.preprocess.open(source)
            crop = self.preprocess.geometry(img)
            tensor = self.preprocess.normalize(np.asarray(crop))
        except ImageDecodeError as exc:
            result.error = str(exc)
            return None
        finally:
            result.decode_ms = (time.perf_counter() - start) * 1000.0
        start = time.perf_counter()
        # The gate's thresholds were measured on a 224 px crop: a model of another size gets the same centre
        # square at 224 rather than its own crop rescaled (which would soften it).
        same = self.preprocess.img_size == quality.QUALITY_SIZE
        result.quality = quality.assess(np.asarray(crop if same else self._quality_crop.geometry(img)))
        result.quality_ms = (time.perf_counter() - start) * 1000.0
        return crop, tensor

    def _infer(
        self,
        chunk: list[tuple[int, object, np.ndarray]],
        results: list[Result],
        metadata: list[Metadata] | None,
        *,
        render_heatmaps: bool,
    ) -> None:
        """Runs the model on one batch of prepared images ``(index, crop, tensor)`` and fills their results."""
        start = time.perf_counter()
        logits, cams, embeddings = self._predict(np.stack([t for _, _, t in chunk]))
        per_item_ms = (time.perf_counter() - start) * 1000.0 / len(chunk)
        raw, probability, class_probs = melanoma_score(logits, self.meta)
        stats = self.meta.get("ood")
        if stats is not None:
            distances = ood_scores(stats, embeddings)
            flags = ood_flags(stats, distances)
        served = probability
        head = self.fusion
        if head is not None:
            known = [(metadata[i] if metadata is not None else None) or Metadata() for i, _, _ in chunk]
            served = fused_probability(head, known, melanoma_log_odds(logits, int(self.meta["melanoma_index"])))
        for j, (i, crop, _) in enumerate(chunk):
            result = results[i]
            result.raw_score = float(raw[j])
            result.image_probability = float(probability[j])
            result.probability = float(served[j])
            if head is not None:
                result.metadata_used = known[j].used
            if class_probs is not None:
                result.class_probs = {name: float(p) for name, p in zip(self._class_names, class_probs[j])}
            result.embedding = np.asarray(embeddings[j], dtype=np.float32)
            if stats is not None:
                result.ood_score = float(distances[j])
                result.ood_flag = bool(flags[j])
            result.cam = cams[j]
            if render_heatmaps:
                result.heatmap_png = cam_to_overlay_png(crop, cams[j])
            result.inference_ms = per_item_ms
