"""Torch datasets over Records, built on the preprocessing the classifier serves with."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from classifier.inference.preprocessing import Preprocess, open_image
from training.core.augment import train_augment
from training.core.data import Record, label_of


def _fit_short_side(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    scale = side / min(w, h)
    return img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.Resampling.BICUBIC)


class LesionDataset(Dataset):
    """Yields (CHW float tensor, label, index).

    Evaluation items go through `Preprocess.__call__` unchanged, i.e. what serving computes.
    Training items keep the whole field of view (short side = img_size) so that the random
    crop can pick any part of it, then augment on uint8 and reuse `Preprocess.normalize`.
    Decoded images are cached once because decoding dominates a CPU epoch on small images.
    """

    def __init__(
        self,
        records: Sequence[Record],
        *,
        task: str,
        preprocess: Preprocess,
        augment: str | None = None,
        cache: bool = True,
    ) -> None:
        self.records = list(records)
        self.labels = [label_of(r, task) for r in self.records]
        self.preprocess = preprocess
        self.augment = train_augment(preprocess.img_size, augment) if augment else None
        self._cache: list[np.ndarray] | None = None
        if cache:
            self._cache = [self._decode(i) for i in range(len(self.records))]

    def _decode(self, index: int) -> np.ndarray:
        img = open_image(self.records[index].path, target_size=self.preprocess.img_size)
        if self.augment is None:
            return np.asarray(self.preprocess.geometry(img))
        return np.asarray(_fit_short_side(img, self.preprocess.img_size))

    def reseed(self, seed: int) -> None:
        if self.augment is not None:
            self.augment.set_random_seed(seed)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        arr = self._cache[index] if self._cache is not None else self._decode(index)
        if self.augment is not None:
            arr = self.augment(image=arr)["image"]
        return torch.from_numpy(self.preprocess.normalize(arr)), self.labels[index], index


def seed_worker(worker_id: int) -> None:
    """DataLoader workers get distinct torch seeds; pass them on to numpy, random and albumentations."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, LesionDataset):
        info.dataset.reseed(seed)
