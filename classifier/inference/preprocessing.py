"""The one preprocessing definition, shared by serving and training.

A model only works on inputs prepared exactly as it was trained on, so both
sides import this module and the parameters travel with the model (artifact
meta and the database) as ``Preprocess.to_dict()``.

The pipeline is split in two so that training can put augmentation in the
middle without duplicating anything:

    source ──open_image──▶ PIL RGB ──geometry──▶ PIL RGB (S×S)
           ──np.asarray──▶ uint8 HWC ──[training: albumentations here]──▶
           ──normalize──▶ float32 CHW (colour constancy, then mean/std)

Serving calls ``preprocess(img)`` (= geometry then normalize); training calls
``geometry``, augments the uint8 array, then ``normalize``. Colour constancy
runs after augmentation on purpose: colour jitter then simulates other
dermatoscopes and shades-of-gray removes the part that is a global cast,
exactly as it does for a real photo at serving time.
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, fields
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

COLOR_CONSTANCY_METHODS = (None, "shades_of_gray")
RESIZE_METHODS = ("short_side_center_crop",)

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes]


class ImageDecodeError(ValueError):
    """The source is not an image we can decode (corrupt, truncated, unknown format)."""


def open_image(source: ImageSource, *, target_size: int) -> Image.Image:
    """Decode ``source`` (path, bytes or binary file object) to an RGB image.

    For JPEGs the decoder is asked for the smallest DCT scale (1/2, 1/4, 1/8)
    whose result is still at least ``target_size`` on both sides, which makes
    decoding a 24-megapixel dermatoscope photo about ten times faster and
    changes nothing the model sees once the image is resized to
    ``target_size``. EXIF orientation is applied so that a phone photo is not
    sideways.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        img = Image.open(source)
        if img.format == "JPEG":
            img.draft("RGB", (target_size, target_size))
        img.load()
        img = ImageOps.exif_transpose(img)
        return img.convert("RGB")
    except (FileNotFoundError, PermissionError):
        # A storage problem, not a bad image: let the caller retry or fail loudly.
        raise
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("not a recognised image format") from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated and corrupt data as OSError/SyntaxError.
        raise ImageDecodeError(f"corrupt image: {exc}") from exc


def shades_of_gray(arr: np.ndarray, power: int = 6) -> np.ndarray:
    """Shades-of-gray colour constancy (Finlayson & Trezzi, 2004).

    Estimates the illuminant as the per-channel Minkowski ``power``-mean and
    rescales the channels so that it becomes neutral grey. ``power=1`` is
    grey-world; large powers approach max-RGB. In dermoscopy it reduces the
    shift between dermatoscopes (Barata et al. 2015; used by the top ISIC
    2019/2020 entries).

    ``arr`` is H×W×3 in [0, 255], uint8 or float. The result has the same
    dtype for uint8 (rounded) and float32 otherwise, clipped to [0, 255].
    """
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 array, got shape {arr.shape}")
    img = arr.astype(np.float32)
    illuminant = np.power(np.mean(np.power(img, power), axis=(0, 1), dtype=np.float64), 1.0 / power)
    norm = float(np.sqrt(np.sum(illuminant**2)))
    if norm == 0.0:
        return arr.copy() if arr.dtype == np.uint8 else img
    # Channels with no signal at all keep their (zero) values instead of
    # being multiplied by infinity.
    unit = np.maximum(illuminant / norm, 1e-6)
    gain = (1.0 / (unit * np.sqrt(3.0))).astype(np.float32)
    out = np.clip(img * gain, 0.0, 255.0)
    if arr.dtype == np.uint8:
        return np.rint(out).astype(np.uint8)
    return out


@dataclass(frozen=True)
class Preprocess:
    """Preprocessing parameters; an instance is callable on a PIL image."""

    img_size: int = 224
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    color_constancy: str | None = "shades_of_gray"
    sog_power: int = 6
    resize: str = "short_side_center_crop"

    def __post_init__(self) -> None:
        # JSON gives lists back; keep the dataclass hashable and comparable.
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need three values (RGB)")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        if self.img_size < 8:
            raise ValueError(f"img_size too small: {self.img_size}")
        if self.color_constancy not in COLOR_CONSTANCY_METHODS:
            raise ValueError(f"unknown color_constancy {self.color_constancy!r}; known: {COLOR_CONSTANCY_METHODS}")
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"unknown resize {self.resize!r}; known: {RESIZE_METHODS}")
        if self.sog_power < 1:
            raise ValueError("sog_power must be >= 1")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            # A newer writer added a step we would silently skip: refuse.
            raise ValueError(f"unknown preprocessing keys: {sorted(unknown)}")
        return cls(**d)

    def open(self, source: ImageSource) -> Image.Image:
        return open_image(source, target_size=self.img_size)

    def geometry(self, img: Image.Image) -> Image.Image:
        """Resize the short side to ``img_size`` and take the centre square.

        Done as one resample of the centre box, which is both faster and
        sharper than resizing the whole image and cropping afterwards.
        """
        w, h = img.size
        side = min(w, h)
        left = (w - side) / 2.0
        top = (h - side) / 2.0
        return img.resize(
            (self.img_size, self.img_size),
            Image.Resampling.BICUBIC,
            box=(left, top, left + side, top + side),
        )

    def normalize(self, arr: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → float32 3×H×W: colour constancy, then mean/std."""
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 array, got shape {arr.shape}")
        img = arr.astype(np.float32)
        if self.color_constancy == "shades_of_gray":
            img = shades_of_gray(img, self.sog_power)
        mean = np.asarray(self.mean, dtype=np.float32) * 255.0
        inv_std = 1.0 / (np.asarray(self.std, dtype=np.float32) * 255.0)
        img = (img - mean) * inv_std
        return np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)

    def __call__(self, img: Image.Image) -> np.ndarray:
        return self.normalize(np.asarray(self.geometry(img.convert("RGB"))))
