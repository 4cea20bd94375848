"""Print a run's headline figures: `python -m training.core.summary OUT/metrics.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _fmt(value, ci=None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}"
    if ci and None not in ci:
        text += f" [{ci[0]:.3f}-{ci[1]:.3f}]"
    return text


def summarise(metrics: dict) -> str:
    lines = [
        f"best epoch {metrics['best_epoch'] + 1}, validation ROC AUC {_fmt(metrics['best_val_auc'])}, "
        f"threshold {metrics['threshold']:.3f} (target sensitivity {metrics['target_sensitivity']}), "
        f"calibration {metrics['calibration']}, {metrics['wall_seconds'] / 60:.1f} min"
    ]
    blocks = [("", metrics["splits"])]
    if "tta8" in metrics:
        blocks.append(("tta8 ", metrics["tta8"]["splits"]))
    for prefix, splits in blocks:
        for name, rep in splits.items():
            if name == "val":
                continue
            lines.append(
                f"{prefix}{name:>22}: n={rep['n']:>3} ({rep['positives']} mel)"
                f"  ROC AUC {_fmt(rep['roc_auc'], rep.get('roc_auc_ci95'))}"
                f"  AUPRC {_fmt(rep['auprc'])}  sens {_fmt(rep['sensitivity'])}  spec {_fmt(rep['specificity'])}"
                f"  ECE {_fmt(rep['uncalibrated']['ece'])}->{_fmt(rep['ece'])}"
                f"  Brier {_fmt(rep['uncalibrated']['brier'])}->{_fmt(rep['brier'])}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(json.loads(Path(sys.argv[1]).read_text())))
