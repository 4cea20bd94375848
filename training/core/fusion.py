"""Does the patient's metadata (age, sex, anatomic site) add to the image model? A late-fusion experiment.

    python -m training.core.fusion OUT [--tta N]

Scores a finished run's selected model on validation, test and the external sources (as `rescore`
does), then fits a logistic regression on validation only: the image model's melanoma logit plus
age, sex and anatomic site (each with a "missing" state, since many records lack them and
`isic2017-ext` has no site at all). Test and external sources are scored by the image model alone
and by the fused model, and the difference in ROC AUC gets a paired, group-level bootstrap CI (the
same resamples for both). Writes OUT/fusion.json. Nothing here is served: the portal would only
pass metadata to the worker if this measurement supported it (training/EVALUATION.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from classifier.inference.metrics import roc_auc, uncalibrated_probability
from training.core import checkpoint
from training.core.config import TrainConfig
from training.core.data import Record
from training.core.distributed import init_runtime
from training.core.run import prepare, score_sets

SITES = ("torso", "lower extremity", "upper extremity", "head/neck", "palms/soles", "oral/genital")
FEATURES = ("image_logit", "age", "age_missing", "male", "female", *(f"site:{s}" for s in SITES))


def metadata_features(records: Sequence[Record], image_logit: np.ndarray) -> np.ndarray:
    """One row per record: the image logit, standardised age (0 and a flag when missing), sex, site."""
    rows = []
    for record, z in zip(records, image_logit, strict=True):
        try:
            age, missing = (float(record.age_approx) - 50.0) / 20.0, 0.0
        except ValueError:
            age, missing = 0.0, 1.0
        sex = record.sex.strip().lower()
        site = record.anatom_site.strip().lower()
        rows.append([z, age, missing, sex == "male", sex == "female", *(site == s for s in SITES)])
    return np.asarray(rows, dtype=np.float64)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def paired_auc_difference(
    y: np.ndarray, base: np.ndarray, fused: np.ndarray, groups: Sequence[str], *, n: int, seed: int
) -> tuple[float, float]:
    """95 % CI of AUC(fused) - AUC(base) over the same group-level resamples."""
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(unique))]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(unique), size=len(unique))])
        d = roc_auc(y[idx], fused[idx]) - roc_auc(y[idx], base[idx])
        if not math.isnan(d):
            diffs.append(d)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def fuse(out: Path, *, views: int, n_bootstrap: int = 1000) -> dict:
    from sklearn.linear_model import LogisticRegression

    cfg = TrainConfig.load(out / "config.json")
    runtime = init_runtime(force_cpu=not torch.cuda.is_available())
    prepared = prepare(cfg, runtime)
    model = prepared.model
    model.load_state_dict(checkpoint.load(out / "checkpoints" / checkpoint.BEST)["model"])
    model.to(runtime.device)
    scored = score_sets(model, prepared.eval_sets, cfg=cfg, runtime=runtime, views=views)
    mel = prepared.melanoma_index

    def features(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = _logit(uncalibrated_probability(scored[name].logits, mel))
        return metadata_features(prepared.eval_sets[name].records, z), scored[name].targets, z

    x_val, y_val, _ = features("val")
    regression = LogisticRegression(C=1.0, max_iter=1000).fit(x_val, y_val)
    result: dict = {
        "views": views,
        "fitted_on": {"split": "val", "n": int(len(y_val)), "melanoma": int(y_val.sum())},
        "coefficients": dict(zip(FEATURES, map(float, regression.coef_[0]), strict=True)),
        "intercept": float(regression.intercept_[0]),
        "splits": {},
    }
    for name in scored:
        if name == "val":
            continue
        x, y, z = features(name)
        if y.sum() < 2 or y.sum() == len(y):
            continue
        fused = regression.decision_function(x)
        result["splits"][name] = {
            "n": int(len(y)),
            "melanoma": int(y.sum()),
            "with_age": int((x[:, 2] == 0).sum()),
            "with_site": int(x[:, 5:].any(axis=1).sum()),
            "image_auc": roc_auc(y, z),
            "fused_auc": roc_auc(y, fused),
            "difference_ci95": paired_auc_difference(y, z, fused, scored[name].groups, n=n_bootstrap, seed=cfg.seed),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tta", type=int, default=1, choices=[1, 2, 4, 8], help="dihedral views averaged")
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = fuse(args.out, views=args.tta, n_bootstrap=args.bootstrap)
    (args.out / "fusion.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, split in result["splits"].items():
        lo, hi = split["difference_ci95"]
        print(
            f"{name:28s} n={split['n']:5d} mel={split['melanoma']:4d}  image {split['image_auc']:.3f}"
            f"  fused {split['fused_auc']:.3f}  difference [{lo:+.3f}, {hi:+.3f}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
