"""Two inference backends with one interface.

``predict(batch float32 (N, 3, S, S)) -> (logits (N, C), cam (N, h, w), embedding (N, K))`` where
``cam`` is the melanoma class's activation map and ``embedding`` the pooled features the head sees.
Both run the network once with three outputs, the logits, the pre-pooling feature map and its
pooled embedding; the CAM is then a single weighted channel sum (see
``heatmap.class_activation_map``), so explanations cost almost nothing extra, and the embedding is
what the out-of-distribution score (``ood.py``) is computed on.

- ``onnx-cpu``: ONNX Runtime on CPU; on a 2-core machine it is about four
  times faster than eager PyTorch for EfficientNet-B0 (``bench/model_throughput.py``).
- ``torch-cuda``: PyTorch on a GPU with autocast (bf16 where supported,
  else fp16) and channels_last. Also runs on CPU (fp32) for tests.
"""

from __future__ import annotations

import logging
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from .artifact import atomic_output
from .engine import BACKEND_ONNX_CPU, BACKEND_TORCH_CUDA
from .factory import cam_parts, embedding_of
from .onnx_runtime import ONNX_OUTPUTS, OnnxPredictor, Predictor, _check_batch  # noqa: F401 — re-exported

log = logging.getLogger(__name__)

ONNX_OPSET = 18
ONNX_PARITY_ATOL = 1e-4


class OnnxParityError(RuntimeError):
    """The exported graph does not reproduce PyTorch's outputs."""


def select_backend() -> str:
    return BACKEND_TORCH_CUDA if torch.cuda.is_available() else BACKEND_ONNX_CPU


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    img_size: int,
    metadata: dict[str, str] | None = None,
) -> None:
    """Export ``model`` to one self-contained ONNX file with outputs ``logits``, ``features`` and
    ``embedding``.

    The batch axis is dynamic. The file is only moved into place after
    ONNX Runtime reproduced PyTorch's logits within ``ONNX_PARITY_ATOL`` on a
    random batch of a different size than the one traced. ``metadata`` is
    stored in the model's ``metadata_props``.
    """
    network = cam_parts(model).network.eval()
    example = torch.randn(2, 3, img_size, img_size)
    with atomic_output(path) as tmp:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the
            # torch.export one, but exports these convnets ~40× faster (0.3 s
            # vs 13 s for a tiny model here, which matters for registration
            # and every test) into one file with the same ORT speed. The
            # parity check below guards correctness whichever exporter runs.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                network,
                (example,),
                tmp,
                input_names=["input"],
                output_names=list(ONNX_OUTPUTS),
                dynamic_axes={name: {0: "batch"} for name in ("input", *ONNX_OUTPUTS)},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        if metadata:
            proto = onnx.load(tmp)
            for key, value in metadata.items():
                proto.metadata_props.add(key=key, value=value)
            onnx.save(proto, tmp)
        check = torch.randn(3, 3, img_size, img_size, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected_logits, expected_features, expected_embedding = network(check)
        session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        logits, features, embedding = session.run(list(ONNX_OUTPUTS), {"input": check.numpy()})
        diff = float(np.abs(logits - expected_logits.numpy()).max())
        if not diff <= ONNX_PARITY_ATOL:
            raise OnnxParityError(f"ONNX logits differ from PyTorch by {diff:.3g} (> {ONNX_PARITY_ATOL})")
        embedding_diff = float(np.abs(embedding - expected_embedding.numpy()).max())
        if not embedding_diff <= ONNX_PARITY_ATOL:
            raise OnnxParityError(f"ONNX embedding differs from PyTorch by {embedding_diff:.3g}")
        if features.shape != tuple(expected_features.shape):
            raise OnnxParityError(f"ONNX features shape {features.shape} != {tuple(expected_features.shape)}")
    log.info("exported ONNX model (logits max abs diff %.2e)", diff)


class TorchPredictor:
    """PyTorch eager. On CUDA: autocast (bf16 if supported, else fp16) and channels_last.

    The head and the CAM are computed in fp32 from the feature map, so the
    reduced precision only touches the backbone.
    """

    def __init__(self, model: nn.Module, *, device: str = "cuda", melanoma_index: int = 0) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        parts = cam_parts(self.model)
        self.cam_weights = torch.from_numpy(parts.weight[melanoma_index]).to(self.device)
        if self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            self.amp_dtype = None

    @torch.inference_mode()
    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = torch.from_numpy(_check_batch(batch)).to(self.device, non_blocking=True)
        x = x.contiguous(memory_format=torch.channels_last)
        if self.amp_dtype is not None:
            with torch.autocast(self.device.type, dtype=self.amp_dtype):
                features = self.model.forward_features(x)
        else:
            features = self.model.forward_features(x)
        features = features.float()
        logits = self.model.forward_head(features)
        cam = torch.einsum("nkhw,k->nhw", features, self.cam_weights)
        embedding = embedding_of(self.model, features)
        return logits.cpu().numpy(), cam.cpu().numpy(), embedding.cpu().numpy()
