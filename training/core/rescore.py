"""Re-score a finished run's selected model with other serving options, without training again.

    python -m training.core.rescore OUT --tta 8 [--out-name metrics-tta8.json]

Loads OUT/config.json and the best checkpoint, rebuilds the same splits and pixel packs, scores
validation, test (overall and per source) and every external source with `--tta` dihedral views
averaged, fits calibration and threshold on validation scored *the same way* (what would then be
served), and writes the metrics beside the run's own. Used to decide whether a serving option earns
its cost (training/EVALUATION.md). No Django.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from training.core import checkpoint
from training.core.config import TrainConfig
from training.core.distributed import init_runtime
from training.core.evaluation import evaluate
from training.core.run import _json_safe, prepare, score_sets
from training.core.summary import summarise


def rescore(out: Path, *, views: int) -> dict:
    cfg = TrainConfig.load(out / "config.json")
    runtime = init_runtime(force_cpu=not torch.cuda.is_available())
    prepared = prepare(cfg, runtime)
    model = prepared.model
    model.load_state_dict(checkpoint.load(out / "checkpoints" / checkpoint.BEST)["model"])
    model.to(runtime.device)
    scored = score_sets(model, prepared.eval_sets, cfg=cfg, runtime=runtime, views=views)
    _, metrics = evaluate(
        scored,
        melanoma_index=prepared.melanoma_index,
        calibration_method=cfg.calibration,
        target_sensitivity=cfg.target_sensitivity,
        n_bootstrap=cfg.bootstrap,
        seed=cfg.seed,
    )
    previous = json.loads((out / "metrics.json").read_text())
    metrics.update({k: previous[k] for k in ("best_epoch", "best_val_auc") if k in previous})
    metrics["wall_seconds"] = previous.get("wall_seconds", 0.0)
    metrics["views"] = views
    return _json_safe(metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tta", type=int, default=8, choices=[1, 2, 4, 8], help="dihedral views averaged")
    parser.add_argument("--out-name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    metrics = rescore(args.out, views=args.tta)
    target = args.out / (args.out_name or f"metrics-tta{args.tta}.json")
    target.write_text(json.dumps(metrics, indent=2) + "\n")
    print(summarise(metrics))
    print(f"written {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
