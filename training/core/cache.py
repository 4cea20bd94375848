"""Decode and resize every image once, into an on-disk uint8 pack that later epochs and runs reuse.

On two CPU cores a 12,000-image epoch spent most of its time in JPEG decoding and resizing, which
give the same pixels every epoch. A pack holds one image set prepared for one use:

- ``train``: the whole field of view with its short side at ``img_size`` (random crops pick from it);
- ``eval``: ``Preprocess.geometry`` exactly, i.e. the centre square serving computes.

Pixels are stored before colour constancy on purpose: training applies Shades-of-Gray after the
colour jitter, as serving applies it to a real photo (see ``classifier.inference.preprocessing``).

A pack is keyed by the sha256 of every file in it (in order) and the parameters that shape its
pixels, so a changed, added or removed image, or another size, builds a new pack; a pack whose
writing was interrupted is never used (its index is written last, atomically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from classifier.inference.preprocessing import Preprocess, open_image
from training.core.data import Record

log = logging.getLogger(__name__)

# Bump when the way pixels are produced changes (decoder settings, resampling).
CACHE_FORMAT = "naevus-pixels/1"
MODES = ("train", "eval")


def fit_short_side(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    scale = side / min(w, h)
    return img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.Resampling.BICUBIC)


def prepare_pixels(path: str | Path, *, preprocess: Preprocess, mode: str) -> np.ndarray:
    """The uint8 H×W×3 array a pack stores for one file (also what an uncached dataset computes)."""
    img = open_image(path, target_size=preprocess.img_size)
    if mode == "eval":
        return np.asarray(preprocess.geometry(img))
    if mode == "train":
        return np.asarray(fit_short_side(img, preprocess.img_size))
    raise ValueError(f"unknown cache mode {mode!r}; known: {MODES}")


def pack_key(records: Sequence[Record], *, preprocess: Preprocess, mode: str) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {"format": CACHE_FORMAT, "mode": mode, "img_size": preprocess.img_size, "resize": preprocess.resize},
            sort_keys=True,
        ).encode()
    )
    for record in records:
        digest.update(record.sha256.encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class Pack:
    """Read-only view of a built pack: ``pack[i]`` is record i's uint8 H×W×3 array (a memmap slice)."""

    data: np.ndarray  # flat uint8 memmap
    offsets: np.ndarray  # (N,) int64
    shapes: np.ndarray  # (N, 2) int32: height, width

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, index: int) -> np.ndarray:
        h, w = (int(v) for v in self.shapes[index])
        start = int(self.offsets[index])
        return self.data[start : start + h * w * 3].reshape(h, w, 3)

    @property
    def nbytes(self) -> int:
        return int(self.data.shape[0])


def _load(folder: Path) -> Pack:
    index = np.load(folder / "index.npz")
    empty = (folder / "pixels.u8").stat().st_size == 0  # np.memmap refuses an empty file
    data = np.zeros(0, np.uint8) if empty else np.memmap(folder / "pixels.u8", dtype=np.uint8, mode="r")
    return Pack(data=data, offsets=index["offsets"], shapes=index["shapes"])


def _prepare_one(args: tuple[str, Preprocess, str]) -> np.ndarray:
    path, preprocess, mode = args
    return prepare_pixels(path, preprocess=preprocess, mode=mode)


def _write(fh, arrays: Iterable[np.ndarray], offsets: np.ndarray, shapes: np.ndarray) -> int:
    position = 0
    for i, arr in enumerate(arrays):
        offsets[i], shapes[i] = position, arr.shape[:2]
        fh.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
        position += arr.size
    return position


def build_pack(
    records: Sequence[Record],
    *,
    preprocess: Preprocess,
    mode: str,
    root: Path,
    workers: int = 1,
) -> Pack:
    """The pack for these records, built now if no complete one exists under ``root``."""
    if mode not in MODES:
        raise ValueError(f"unknown cache mode {mode!r}; known: {MODES}")
    folder = root / f"{mode}-{preprocess.img_size}-{pack_key(records, preprocess=preprocess, mode=mode)}"
    if (folder / "index.npz").is_file():
        return _load(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(str(r.path), preprocess, mode) for r in records]
    offsets = np.zeros(len(records), dtype=np.int64)
    shapes = np.zeros((len(records), 2), dtype=np.int32)
    tmp = folder / f"pixels.u8.{os.getpid()}.tmp"
    with tmp.open("wb") as fh:
        # A process pool costs more than it saves on a few hundred small images.
        if workers <= 1 or len(jobs) < 256:
            size = _write(fh, map(_prepare_one, jobs), offsets, shapes)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                size = _write(fh, pool.map(_prepare_one, jobs, chunksize=16), offsets, shapes)
    os.replace(tmp, folder / "pixels.u8")
    index_tmp = folder / f"index.{os.getpid()}.tmp.npz"
    np.savez(index_tmp, offsets=offsets, shapes=shapes)
    # The index is the pack's commit record: written last, so a half-built pack is never loaded.
    os.replace(index_tmp, folder / "index.npz")
    log.info("cached %d images (%s, %d px) in %s: %.0f MB", len(records), mode, preprocess.img_size, folder, size / 1e6)
    return _load(folder)
