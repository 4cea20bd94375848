"""Tiny artifacts for tests and demos (random weights, flagged ``is_demo``)."""

from __future__ import annotations

import os

import torch

from .artifact import build_meta, save_artifact
from .factory import create_model
from .preprocessing import Preprocess

# timm's ``test_efficientnet``: the EfficientNet layout (global average pool +
# linear head, so CAMs work) with ~0.1 M parameters; builds in ~30 ms and
# scores a 64 px image in ~1 ms on one CPU thread.
TINY_ARCH = "test_efficientnet"
MULTICLASS_NAMES = ("melanoma", "nevus", "pigmented benign keratosis", "basal cell carcinoma")


def tiny_meta(*, arch: str, img_size: int, num_classes: int, seed: int) -> dict:
    if num_classes == 1:
        class_names = ["melanoma"]
    else:
        extra = [f"class {i}" for i in range(len(MULTICLASS_NAMES), num_classes)]
        class_names = (list(MULTICLASS_NAMES) + extra)[:num_classes]
    return build_meta(
        arch=arch,
        num_classes=num_classes,
        class_names=class_names,
        preprocess=Preprocess(img_size=img_size),
        threshold=0.5,
        is_demo=True,
        name=f"tiny {arch} (random weights)",
        version=f"seed-{seed}",
    )


def make_tiny_artifact(
    path: str | os.PathLike,
    *,
    arch: str = TINY_ARCH,
    img_size: int = 64,
    num_classes: int = 1,
    seed: int = 0,
) -> tuple[str, dict]:
    """Write a random-weight artifact to ``path``; returns ``(sha256, meta)``.

    Deterministic for a given seed, and leaves the caller's RNG state alone.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(arch, num_classes=num_classes)
    meta = tiny_meta(arch=arch, img_size=img_size, num_classes=num_classes, seed=seed)
    return save_artifact(path, state_dict=model.state_dict(), meta=meta), meta
