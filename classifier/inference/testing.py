"""Tiny artifacts for tests and demos (random or briefly trained weights, flagged ``is_demo``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
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


# Parity tests assert this spread of the reference logits before their tolerance, so that "the two
# agree within 1e-4" cannot hold merely because the model says the same about every image.
MIN_LOGIT_SPREAD = 1.0


def logit_spread(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.max() - values.min())


SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "isic"


def sample_images() -> list[tuple[bytes, int]]:
    """The labelled sample images (real dermoscopy, see samples/isic/README.md) as (JPEG bytes, target)."""
    with open(SAMPLES / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [((SAMPLES / f"{row['image_name']}.jpg").read_bytes(), int(row["target"])) for row in rows]


def make_trained_tiny_artifact(
    path: str | os.PathLike, *, img_size: int = 64, steps: int = 10, lr: float = 3e-3, seed: int = 0
) -> tuple[str, dict]:
    """A tiny model after a few Adam steps on the sample images; returns ``(sha256, meta)``.

    A random-init network scores images almost alike (at 64 px its logits spread over 0.08 across the
    samples), so a parity check against it passes whatever the export did. Ten steps spread them
    over about 2 units, and a broken export or backend shows.
    """
    preprocess = Preprocess(img_size=img_size)
    samples = sample_images()
    x = torch.from_numpy(np.stack([preprocess(preprocess.open(data)) for data, _ in samples]))
    y = torch.tensor([float(target) for _, target in samples])
    # One thread: ten tiny steps gain nothing from more, and on a busy machine a thread pool per
    # core stalled them for minutes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = create_model(TINY_ARCH, num_classes=1)
            optimiser = torch.optim.Adam(model.parameters(), lr=lr)
            model.train()
            for _ in range(steps):
                batch = torch.randperm(len(x))[:32]
                optimiser.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x[batch])[:, 0], y[batch])
                loss.backward()
                optimiser.step()
    finally:
        torch.set_num_threads(threads)
    meta = build_meta(
        arch=TINY_ARCH,
        class_names=["melanoma"],
        preprocess=preprocess,
        threshold=0.5,
        is_demo=True,
        name=f"tiny {TINY_ARCH} ({steps} steps on the sample images)",
        version=f"trained-seed-{seed}",
    )
    return save_artifact(path, state_dict=model.state_dict(), meta=meta), meta


IMAGENET_ARCH = "tf_efficientnet_lite0"


def make_imagenet_artifact(path: str | os.PathLike, *, img_size: int = 224) -> tuple[str, dict]:
    """``tf_efficientnet_lite0`` with its ImageNet backbone (packaged weights, no network) and a fresh
    one-logit head: embeddings that tell images apart, for the out-of-distribution tests and bench."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = create_model(IMAGENET_ARCH, num_classes=1, init="imagenet")
    pretrained = model.pretrained_cfg
    meta = build_meta(
        arch=IMAGENET_ARCH,
        class_names=["melanoma"],
        preprocess=Preprocess(img_size=img_size, mean=tuple(pretrained["mean"]), std=tuple(pretrained["std"])),
        threshold=0.5,
        is_demo=True,
        name=f"{IMAGENET_ARCH} (ImageNet backbone, untrained head)",
        version="imagenet",
    )
    return save_artifact(path, state_dict=model.state_dict(), meta=meta), meta


# Real photographs that are not dermoscopy, shipped inside installed packages (scikit-image is a
# development dependency; scikit-learn and matplotlib are runtime ones): the out-of-distribution tests'
# and bench's negatives.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera")


def natural_photos() -> list[tuple[str, bytes]]:
    """(name, PNG bytes) of real natural photos: portraits, a cat, a cup, a rocket, a landscape, a flower."""
    import io

    import matplotlib
    import sklearn.datasets
    from PIL import Image
    from skimage import data

    arrays = [(name, getattr(data, name)()) for name in SKIMAGE_PHOTOS]
    arrays += list(zip(("china", "flower"), sklearn.datasets.load_sample_images().images, strict=True))
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos = [("grace_hopper", hopper.read_bytes())]
    for name, array in arrays:
        buffer = io.BytesIO()
        Image.fromarray(array).convert("RGB").save(buffer, format="PNG")
        photos.append((name, buffer.getvalue()))
    return photos
