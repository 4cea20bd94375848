"""From the selected model's logits to the figures we publish: calibration and threshold are fitted
on validation only, then applied unchanged to the test split and to every external source."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.inference.metrics import (
    apply_calibration,
    binary_report,
    brier,
    ece,
    fit_calibration,
    threshold_for_sensitivity,
    uncalibrated_probability,
)
from classifier.inference.plots import reliability_plot
from training.core import plots


@dataclass(frozen=True)
class Scored:
    """One split's logits with what the metrics need to know about each image."""

    logits: np.ndarray
    targets: np.ndarray
    groups: list[str]


@dataclass(frozen=True)
class Operating:
    calibration: dict[str, Any]
    threshold: float


def choose_operating_point(val: Scored, *, melanoma_index: int, method: str, target_sensitivity: float) -> Operating:
    calibration = fit_calibration(val.logits, val.targets, melanoma_index, method)
    calibrated = apply_calibration(val.logits, melanoma_index, calibration)
    return Operating(calibration, threshold_for_sensitivity(val.targets, calibrated, target_sensitivity))


def report(scored: Scored, operating: Operating, *, melanoma_index: int, n_bootstrap: int, seed: int) -> dict[str, Any]:
    raw = uncalibrated_probability(scored.logits, melanoma_index)
    calibrated = apply_calibration(scored.logits, melanoma_index, operating.calibration)
    out = binary_report(
        scored.targets,
        calibrated,
        threshold=operating.threshold,
        groups=scored.groups,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    out["uncalibrated"] = {"ece": ece(scored.targets, raw), "brier": brier(scored.targets, raw)}
    return out


def evaluate(
    splits: dict[str, Scored],
    *,
    melanoma_index: int,
    calibration_method: str,
    target_sensitivity: float,
    n_bootstrap: int,
    seed: int,
) -> tuple[Operating, dict[str, Any]]:
    """`splits` must hold "val"; every other entry (test, external sources) is only measured."""
    operating = choose_operating_point(
        splits["val"], melanoma_index=melanoma_index, method=calibration_method, target_sensitivity=target_sensitivity
    )
    reports = {
        name: report(
            scored, operating, melanoma_index=melanoma_index, n_bootstrap=0 if name == "val" else n_bootstrap, seed=seed
        )
        for name, scored in splits.items()
    }
    return operating, {
        "threshold": operating.threshold,
        "calibration": operating.calibration,
        "target_sensitivity": target_sensitivity,
        "splits": reports,
    }


def draw(
    splits: dict[str, Scored],
    operating: Operating,
    history: list[dict[str, float]],
    out: Path,
    *,
    melanoma_index: int,
    primary: str = "test",
) -> dict[str, str]:
    """PNG name → path. Curves carry every split; single-split plots show `primary`."""
    calibrated = {
        name: apply_calibration(s.logits, melanoma_index, operating.calibration) for name, s in splits.items()
    }
    curves = {name: (splits[name].targets.tolist(), calibrated[name].tolist()) for name in splits if name != "val"}
    main = splits[primary]
    raw = uncalibrated_probability(main.logits, melanoma_index)
    counts = binary_report(main.targets, calibrated[primary], threshold=operating.threshold, n_bootstrap=0)["confusion"]
    return {
        "roc": plots.roc_plot(curves, out / "roc.png"),
        "pr": plots.pr_plot(curves, out / "pr.png"),
        "reliability": reliability_plot(main.targets, raw, calibrated[primary], out / "reliability.png"),
        "confusion": plots.confusion_plot(counts, out / "confusion.png"),
        "curves": plots.curves_plot(history, out / "curves.png"),
    }
