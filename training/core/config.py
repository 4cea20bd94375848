"""The one description of a training run, written as config.json beside its outputs."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Task = Literal["binary", "diagnosis"]
Imbalance = Literal["weighted_loss", "sampler", "none"]
Amp = Literal["auto", "bf16", "fp16", "none"]
Augment = Literal["strong", "light", "none"]
Calibration = Literal["temperature", "platt", "none"]


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    external: list[str] = field(default_factory=list)
    # Diagnosis-level target by default: triage reads P(melanoma) from it (see training/EVALUATION.md).
    task: Task = "diagnosis"
    arch: str = "tf_efficientnet_lite0"
    init: str = "imagenet"
    img_size: int = 224
    color_constancy: str | None = "shades_of_gray"
    sog_power: int = 6
    epochs: int = 10
    batch_size: int = 32
    accum_steps: int = 1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    # Epochs during which only the classifier head trains: a cheap fine-tune for the CPU demo.
    freeze_backbone_epochs: int = 0
    # Stem and first N stages frozen for the whole run (ImageNet filters; no backward pass there).
    freeze_blocks: int = 0
    ema_decay: float = 0.0
    imbalance: Imbalance = "weighted_loss"
    # Source balancing power p: each image is drawn with weight (size of its source)^-p, so a source's
    # share of an epoch is proportional to size^(1-p): 0 = natural mix, 1 = every source equally often,
    # 0.5 = shares proportional to the square root of the source's size (a 113-image source is not
    # drawn a third of the time, as it would be at p = 1 beside 2,000- and 10,000-image sources).
    balance_sources: float = 0.0
    augment: Augment = "strong"
    folds: int = 5
    fold: int = 0
    seed: int = 42
    amp: Amp = "auto"
    channels_last: bool = True
    # On 2 shared CPU cores a loader process competes with the model for the cores (bench: slower).
    workers: int = 0
    # Decoded, resized pixels are packed here once and reused by every later epoch and run
    # ("" = the run's own folder, out/cache).
    cache_dir: str = ""
    tta: bool = False
    # Dihedral views the served model averages (1, 2, 4, 8); calibration and threshold are fitted for them.
    serve_views: int = 1
    target_sensitivity: float = 0.95
    calibration: Calibration = "temperature"
    bootstrap: int = 1000
    resume: bool = False
    progress: bool = True
    name: str = "naevus"
    version: str = ""
    is_demo: bool = False

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("at least one --data CSV:IMAGES source is needed")
        if self.folds < 3:
            raise ValueError("folds must be >= 3: one fold is test, one validation, the rest train")
        if not 0 <= self.fold < self.folds:
            raise ValueError(f"fold must be in [0, {self.folds})")
        if not 0.0 < self.target_sensitivity < 1.0:
            raise ValueError("target_sensitivity must be in (0, 1)")
        if self.serve_views not in (1, 2, 4, 8):
            raise ValueError("serve_views must be 1, 2, 4 or 8")
        if self.freeze_blocks < 0:
            raise ValueError("freeze_blocks must be >= 0")
        if self.accum_steps < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("epochs, batch_size and accum_steps must be >= 1")

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    @property
    def pixel_cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else self.out_dir / "cache"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))
