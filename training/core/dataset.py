"""Torch datasets over Records, built on the preprocessing the classifier serves with.

Items are uint8 H×W×3 tensors: cheap to move between loader processes and to collate. Colour
constancy and mean/std normalisation then run once per batch (``normalize_batch``), vectorised, and
give what ``Preprocess.normalize`` gives image by image (tested against it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from classifier.inference.preprocessing import Preprocess
from training.core.augment import train_augment
from training.core.cache import Pack, prepare_pixels
from training.core.data import Record, label_of


class LesionDataset(Dataset):
    """Yields (uint8 H×W×3 tensor, label, index).

    Evaluation items are ``Preprocess.geometry`` of the decoded image, i.e. what serving computes.
    Training items start from the whole field of view (short side = img_size) so that the random
    crop can pick any part of it. ``pixels`` is the cached pack of exactly these records (see
    ``training.core.cache``); without one every item is decoded again.
    """

    def __init__(
        self,
        records: Sequence[Record],
        *,
        task: str,
        preprocess: Preprocess,
        augment: str | None = None,
        pixels: Pack | None = None,
    ) -> None:
        self.records = list(records)
        self.labels = [label_of(r, task) for r in self.records]
        self.preprocess = preprocess
        self.augment = train_augment(preprocess.img_size, augment) if augment else None
        if pixels is not None and len(pixels) != len(self.records):
            raise ValueError(f"pixel pack holds {len(pixels)} images for {len(self.records)} records")
        self.pixels = pixels

    @property
    def mode(self) -> str:
        return "eval" if self.augment is None else "train"

    def reseed(self, seed: int) -> None:
        if self.augment is not None:
            self.augment.set_random_seed(seed)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        if self.pixels is not None:
            arr = self.pixels[index]
        else:
            arr = prepare_pixels(self.records[index].path, preprocess=self.preprocess, mode=self.mode)
        if self.augment is not None:
            arr = self.augment(image=arr)["image"]
        # A copy: pack slices are read-only views of the memmap.
        return torch.from_numpy(np.array(arr)), self.labels[index], index


def normalize_batch(images: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """uint8 N×H×W×3 → float32 N×3×H×W in channels_last memory: ``Preprocess.normalize``, batched."""
    img = images.float()
    if preprocess.color_constancy == "shades_of_gray":
        power = preprocess.sog_power
        illuminant = img.pow(power).mean(dim=(1, 2), dtype=torch.float64).pow(1.0 / power)
        norm = illuminant.square().sum(dim=1, keepdim=True).sqrt()
        unit = torch.clamp(illuminant / torch.where(norm > 0, norm, 1.0), min=1e-6)
        gain = torch.where(norm > 0, 1.0 / (unit * 3.0**0.5), 1.0).to(torch.float32)
        img = torch.clamp(img * gain[:, None, None, :], 0.0, 255.0)
    mean = torch.tensor(preprocess.mean, dtype=torch.float32) * 255.0
    inv_std = 1.0 / (torch.tensor(preprocess.std, dtype=torch.float32) * 255.0)
    # NHWC permuted to NCHW is exactly the channels_last layout the model runs fastest in.
    return ((img - mean) * inv_std).permute(0, 3, 1, 2)


def seed_worker(worker_id: int) -> None:
    """DataLoader workers get distinct torch seeds; pass them on to numpy, random and albumentations."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, LesionDataset):
        info.dataset.reseed(seed)
