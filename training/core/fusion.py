"""Does the patient's metadata (age, sex, anatomic site) add to the image model? Fit, measure, and serve it.

    python -m training.core.fusion OUT [--tta N] [--write]

Scores a finished run's served model (the weights in OUT/model.naevus.pt) on validation, test and the
external sources, then fits a logistic regression on validation only: the image model's melanoma
log-odds plus age, sex and anatomic site (each with a "missing" state, since many records lack them
and `isic2017-ext` has no site at all; `classifier.inference.fusion` defines the features, the same
for training and serving). Calibration (the run's method) and the operating threshold (the run's
target sensitivity) are refitted on the fused validation score. Test and external sources are
scored by the image model alone and by the fused model: ROC AUC, sensitivity and specificity at each
one's threshold, ECE, and the paired group-level bootstrap CI of the AUC difference. Writes
OUT/fusion.json.

`--write` also stores the fitted head in the artifact's meta (so its sha256 covers it) and updates
OUT/result.json, which is what `manage.py train --fusion` then registers: workers serve the fused
probability for that version. It scores with the artifact's own test-time views (`--tta` is ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from classifier.inference.artifact import ARTIFACT_NAME, load_artifact, save_artifact, validate_meta
from classifier.inference.fusion import AGE_CENTER, AGE_SCALE, FEATURES, SITES, Metadata, features, fused_log_odds
from classifier.inference.metrics import (
    apply_calibration,
    ece,
    fit_calibration,
    operating_point,
    roc_auc,
    threshold_for_sensitivity,
)
from classifier.inference.scoring import calibrate, melanoma_log_odds
from training.core.config import TrainConfig
from training.core.data import Record
from training.core.distributed import init_runtime
from training.core.run import SCORES_NAME, _json_safe, load_scores, prepare, score_sets

__all__ = ["FEATURES", "SITES", "fit_head", "fuse", "metadata_features", "record_metadata"]

log = logging.getLogger("training")


def record_metadata(record: Record) -> Metadata:
    return Metadata.normalised(age=record.age_approx, sex=record.sex, site=record.anatom_site)


def metadata_features(records: Sequence[Record], image_logit: np.ndarray) -> np.ndarray:
    """One row per record, columns as `FEATURES`: the serving encoding, fed from a labels CSV."""
    return features([record_metadata(r) for r in records], image_logit, center=AGE_CENTER, scale=AGE_SCALE)


def _fit_log_odds_calibration(z: np.ndarray, y: np.ndarray, method: str) -> dict:
    # The image model's fitter, given two logits [0, z]: its softmax melanoma probability is sigmoid(z)
    # and its temperature divides z, so the fitted T (or a, b) applies to z exactly as `calibrate` does.
    return fit_calibration(np.stack([np.zeros_like(z), z], axis=1), y, 1, method)


def masked_variants(meta: Metadata) -> list[Metadata]:
    """`meta` with every subset of its known fields made unknown, each distinct result once (itself first).

    A clinic that records no site is served the "site missing" state. Fitted on validation alone, that
    state means "the records that happen to lack a site" (a few sources, their own prevalence), and on a
    set with no site at all the fused probability was off (ECE 0.201 on `isic2017-ext`, run E3). Fitted
    on these variants, each validation record stands in every state it can be seen in, once: a record
    that has a site and one that lacks it weigh the same in the "site missing" state, so that state
    stands for "unknown for this patient", the validation population as a whole.
    """
    variants = {}
    for age in (True, False):
        for sex in (True, False):
            for site in (True, False):
                variant = replace(
                    meta,
                    age=meta.age if age else None,
                    sex=meta.sex if sex else None,
                    site=meta.site if site else None,
                )
                variants.setdefault(variant, None)
    return list(variants)


def fit_head(
    records: Sequence[Record],
    image_logit: np.ndarray,
    y: np.ndarray,
    *,
    calibration_method: str,
    target_sensitivity: float,
    mask_missing: bool = True,
) -> dict:
    """The fusion head fitted on validation: regression, then calibration and threshold on its output.

    `mask_missing`: fit the regression on the `masked_variants` of every row (see there); the
    calibration and the threshold are fitted on the validation rows as recorded."""
    from sklearn.linear_model import LogisticRegression

    known = [record_metadata(r) for r in records]
    z = np.asarray(image_logit, dtype=np.float64)
    y = np.asarray(y)
    rows, logits, targets = known, z, y
    if mask_missing:
        variants = [masked_variants(m) for m in known]
        rows = [v for vs in variants for v in vs]
        counts = [len(vs) for vs in variants]
        logits, targets = np.repeat(z, counts), np.repeat(y, counts)
    x = features(rows, logits, center=AGE_CENTER, scale=AGE_SCALE)
    regression = LogisticRegression(C=1.0, max_iter=1000).fit(x, targets)
    head = {
        "features": list(FEATURES),
        "age_center": AGE_CENTER,
        "age_scale": AGE_SCALE,
        "coefficients": [float(c) for c in regression.coef_[0]],
        "intercept": float(regression.intercept_[0]),
        "calibration": {"method": "none"},
        "threshold": 0.5,
        "mask_missing": mask_missing,
    }
    fused = fused_log_odds(head, known, z)
    head["calibration"] = _fit_log_odds_calibration(fused, y, calibration_method)
    head["threshold"] = threshold_for_sensitivity(y, calibrate(fused, head["calibration"]), target_sensitivity)
    return head


def _figures(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    point = operating_point(y, p, threshold)
    return {
        "roc_auc": roc_auc(y, p),
        "sensitivity": point["sensitivity"],
        "specificity": point["specificity"],
        "ece": ece(y, p),
        "threshold": threshold,
    }


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


def fuse(out: Path, *, views: int | None = None, n_bootstrap: int = 1000, mask_missing: bool = True) -> dict:
    """`views`: test-time views to score with (default: the artifact's own, what is served);
    `mask_missing`: see `fit_head`."""
    cfg = TrainConfig.load(out / "config.json")
    served = json.loads((out / "result.json").read_text())
    artifact = load_artifact(out / ARTIFACT_NAME, expected_sha256=served["sha256"])
    meta = artifact.meta
    views = int(meta.get("tta_views", 1)) if views is None else views
    runtime = init_runtime(force_cpu=not torch.cuda.is_available())
    prepared = prepare(cfg, runtime)
    model = prepared.model
    model.load_state_dict(artifact.state_dict, strict=True)
    model.to(runtime.device)
    scored = load_scores(out / SCORES_NAME, sha256=served["sha256"], views=views, datasets=prepared.eval_sets)
    if scored is None:
        scored = score_sets(model, prepared.eval_sets, cfg=cfg, runtime=runtime, views=views)
    else:
        log.info("fusion: reusing the run's served logits (%s)", SCORES_NAME)
    mel = prepared.melanoma_index

    def image_logit(name: str) -> np.ndarray:
        return melanoma_log_odds(scored[name].logits, mel)

    val_records = prepared.eval_sets["val"].records
    y_val = scored["val"].targets
    head = fit_head(
        val_records,
        image_logit("val"),
        y_val,
        calibration_method=cfg.calibration,
        target_sensitivity=cfg.target_sensitivity,
        mask_missing=mask_missing,
    )
    result: dict = {
        "mask_missing": mask_missing,
        "views": views,
        "fitted_on": {"split": "val", "n": int(len(y_val)), "melanoma": int(y_val.sum())},
        "coefficients": dict(zip(FEATURES, head["coefficients"], strict=True)),
        "intercept": head["intercept"],
        "calibration": head["calibration"],
        "threshold": head["threshold"],
        "image_threshold": float(meta["threshold"]),
        "splits": {},
    }
    for name in scored:
        records = prepared.eval_sets[name].records
        y, z = scored[name].targets, image_logit(name)
        if y.sum() < 1 or y.sum() == len(y):
            continue
        known = [record_metadata(r) for r in records]
        fused_z = fused_log_odds(head, known, z)
        image_p = apply_calibration(scored[name].logits, mel, meta["calibration"])
        fused_p = calibrate(fused_z, head["calibration"])
        split = {
            "n": int(len(y)),
            "melanoma": int(y.sum()),
            "with_age": sum(m.age is not None for m in known),
            "with_sex": sum(m.sex is not None for m in known),
            "with_site": sum(m.site is not None for m in known),
            "image_auc": roc_auc(y, z),
            "fused_auc": roc_auc(y, fused_z),
            "image": _figures(y, image_p, float(meta["threshold"])),
            "fused": _figures(y, fused_p, head["threshold"]),
            # What a clinic that records no anatomic site is served (`isic2017-ext` has none at all).
            "fused_site_unknown": _figures(
                y,
                calibrate(fused_log_odds(head, [replace(m, site=None) for m in known], z), head["calibration"]),
                head["threshold"],
            ),
        }
        if name != "val" and y.sum() >= 2:
            split["difference_ci95"] = paired_auc_difference(
                y, z, fused_z, scored[name].groups, n=n_bootstrap, seed=cfg.seed
            )
        result["splits"][name] = split
    head["metrics"] = _json_safe(
        {name: {k: split[k] for k in ("n", "image", "fused")} for name, split in result["splits"].items()}
    )
    result["head"] = head
    return _json_safe(result)


def write_head(out: Path, head: dict) -> dict:
    """Store the head in the run's artifact (a new file, hence a new sha256) and update result.json."""
    served = json.loads((out / "result.json").read_text())
    artifact = load_artifact(out / ARTIFACT_NAME, expected_sha256=served["sha256"])
    meta = {**artifact.meta, "fusion": head}
    validate_meta(meta)
    sha256 = save_artifact(out / ARTIFACT_NAME, state_dict=artifact.state_dict, meta=meta)
    served.update({"sha256": sha256, "meta": meta})
    (out / "result.json").write_text(json.dumps(_json_safe(served), indent=2) + "\n")
    log.info("fusion head written into %s (sha256 %s)", out / ARTIFACT_NAME, sha256[:12])
    return served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--tta", type=int, default=None, choices=[1, 2, 4, 8], help="dihedral views averaged (default: the artifact's)"
    )
    parser.add_argument("--write", action="store_true", help="store the head in the artifact (what is served)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument(
        "--no-mask-missing",
        dest="mask_missing",
        action="store_false",
        help="fit the regression on validation as recorded only (before: a missing site read as low risk)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = fuse(
        args.out, views=None if args.write else args.tta, n_bootstrap=args.bootstrap, mask_missing=args.mask_missing
    )
    (args.out / "fusion.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, split in result["splits"].items():
        lo, hi = split.get("difference_ci95") or (math.nan, math.nan)
        i, f = split["image"], split["fused"]
        print(
            f"{name:28s} n={split['n']:5d} mel={split['melanoma']:4d}  image {i['roc_auc']:.3f}"
            f" (sens {i['sensitivity']:.3f} spec {i['specificity']:.3f} ece {i['ece']:.3f})"
            f"  fused {f['roc_auc']:.3f} (sens {f['sensitivity']:.3f} spec {f['specificity']:.3f} ece {f['ece']:.3f})"
            f"  AUC difference [{lo:+.3f}, {hi:+.3f}]"
            f"  site unknown: ece {split['fused_site_unknown']['ece']:.3f}"
        )
    if args.write:
        write_head(args.out, result["head"])
        print(f"fusion head written into {args.out / ARTIFACT_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
