"""Tiny generated lesions: a dark blob (benign) or a bright, irregular red one (melanoma)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.core.data import SIIM_ISIC_COLUMNS as COLUMNS


def make_source(
    root: Path, *, n: int = 24, size: int = 40, seed: int = 0, patients: int | None = None, metadata: bool = False
) -> str:
    """Write n JPEGs and a SIIM-ISIC labels.csv under root; returns the `CSV:IMAGES` spec. With
    `metadata`, rows carry age (older for melanoma), sex and site, each missing on some rows."""
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        target = i % 2
        yy, xx = np.mgrid[:size, :size]
        radius = size * (0.3 if target else 0.2)
        blob = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius**2
        arr = np.full((size, size, 3), 200, dtype=np.uint8)
        arr[blob] = (170, 40, 50) if target else (90, 70, 60)
        arr = np.clip(arr + rng.integers(-12, 12, arr.shape), 0, 255).astype(np.uint8)
        name = f"IMG_{seed:02d}{i:04d}"
        Image.fromarray(arr).save(images / f"{name}.jpg", quality=92)
        rows.append(
            {
                "image_name": name,
                "patient_id": f"P{i % patients}" if patients else "",
                "sex": ("male", "female", "")[i % 3] if metadata else "",
                "age_approx": str(float(rng.integers(20, 50) + 30 * target)) if metadata and i % 5 else "",
                "anatom_site_general_challenge": ("torso", "head/neck", "", "palms/soles")[i % 4] if metadata else "",
                "diagnosis": "melanoma" if target else "nevus",
                "benign_malignant": "malignant" if target else "benign",
                "target": target,
            }
        )
    with (root / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return f"{root / 'labels.csv'}:{images}"


@pytest.fixture
def tiny_source(tmp_path: Path) -> str:
    return make_source(tmp_path / "src", n=24)


@pytest.fixture(autouse=True)
def _few_threads():
    # The CI machine has two cores shared with other suites.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
