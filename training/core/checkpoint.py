"""Training checkpoints: written atomically each epoch so a crash leaves the previous one intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.pt"
BEST = "best.pt"


def atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    # Our own files, but weights_only still guards against a swapped-in pickle.
    return torch.load(path, map_location="cpu", weights_only=True)


def latest(directory: Path) -> Path | None:
    path = directory / LAST
    return path if path.is_file() else None
