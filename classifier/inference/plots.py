"""The reliability plot, drawn the same way for training's test split and a clinic's local validation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .metrics import reliability_bins  # noqa: E402


def save_figure(fig: Any, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def reliability_plot(
    y: Sequence[int],
    raw: Sequence[float],
    calibrated: Sequence[float],
    path: Path,
    *,
    title: str = "Reliability (test)",
    labels: tuple[str, str] = ("uncalibrated", "calibrated"),
) -> str:
    fig, ax = plt.subplots(figsize=(5, 5))
    for label, p, marker in ((labels[0], raw, "o"), (labels[1], calibrated, "s")):
        rows = reliability_bins(y, p)
        ax.plot([r["confidence"] for r in rows], [r["frequency"] for r in rows], marker=marker, label=label)
    ax.plot([0, 1], [0, 1], "k:", linewidth=0.8)
    ax.set(
        xlabel="predicted melanoma probability",
        ylabel="observed melanoma frequency",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)
