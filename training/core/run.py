"""Per-rank entry point: `python -m training.core.run --config cfg.json` (what torchrun starts).

Rank 0 alone writes: config.json, checkpoints/, metrics.json, plots/*.png, model.naevus.pt, scores.npz
(the served logits of every evaluation set) and result.json (what the Django side reads to register
the model). No Django here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.inference.artifact import ARTIFACT_NAME, build_meta, save_artifact
from classifier.inference.factory import create_model
from classifier.inference.preprocessing import Preprocess
from training.core.cache import Pack, build_pack
from training.core.config import TrainConfig
from training.core.data import Record, class_names, duplicate_groups, load_sources, melanoma_index, parse_source
from training.core.dataset import LesionDataset
from training.core.distributed import Runtime, init_runtime, shutdown
from training.core.evaluation import Scored, draw, evaluate
from training.core.loop import choose_precision, fit, predict
from training.core.splits import Split, train_val_test

log = logging.getLogger("training")


def _json_safe(value: Any) -> Any:
    """metrics.json must stay valid JSON: NaN (e.g. AUC of a one-class split) becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The compact figures stored in the artifact and shown in the portal (val → the selection AUC)."""
    keys = (
        "n",
        "positives",
        "roc_auc",
        "roc_auc_ci95",
        "auprc",
        "sensitivity",
        "specificity",
        "ppv",
        "npv",
        "ece",
        "brier",
    )
    return _json_safe({name: {k: rep[k] for k in keys if k in rep} for name, rep in metrics["splits"].items()})


@dataclass
class Prepared:
    """Everything a rank needs before the loop: model, preprocessing and datasets."""

    model: torch.nn.Module
    preprocess: Preprocess
    class_names: tuple[str, ...]
    melanoma_index: int
    train_set: LesionDataset
    eval_sets: dict[str, LesionDataset]  # "val", "test", then "external/<source>"
    split: Split


def prepare(cfg: TrainConfig, runtime: Runtime) -> Prepared:
    records = load_sources(cfg.data)
    split = train_val_test(records, folds=cfg.folds, fold=cfg.fold, seed=cfg.seed)
    externals = {parse_source(spec)[0].parent.name: load_sources([spec]) for spec in cfg.external}
    if runtime.is_primary:
        log.info(
            "%d images (%d melanoma) from %d source(s); %d duplicate groups; train/val/test = %d/%d/%d",
            len(records),
            sum(r.target for r in records),
            len(cfg.data),
            len(duplicate_groups(records)),
            len(split.train),
            len(split.val),
            len(split.test),
        )

    names = class_names(cfg.task)
    # Same seed on every rank: identical initial heads (DDP would broadcast them anyway) and reruns.
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.arch, num_classes=len(names), init=cfg.init)
    # Pretrained weights expect the input scaling they were trained with (TF EfficientNet-Lite: mean = std = 0.5).
    pretrained = getattr(model, "pretrained_cfg", {}) or {}
    preprocess = Preprocess(
        img_size=cfg.img_size,
        color_constancy=cfg.color_constancy,
        sog_power=cfg.sog_power,
        **{k: tuple(pretrained[k]) for k in ("mean", "std") if k in pretrained},
    )

    def subset(indices: list[int]) -> list[Record]:
        return [records[i] for i in indices]

    evaluated = {"val": subset(split.val), "test": subset(split.test)}
    test_sources = sorted({r.source for r in evaluated["test"]})
    if len(test_sources) > 1:
        # Per-source figures of the same held-out fold: a mixed-source AUC can hide a weak source.
        evaluated.update({f"test/{s}": [r for r in evaluated["test"] if r.source == s] for s in test_sources})
    evaluated.update({f"external/{name}": recs for name, recs in externals.items()})
    wanted = {"train": subset(split.train), **evaluated}

    def pack(name: str) -> Pack:
        return build_pack(
            wanted[name],
            preprocess=preprocess,
            mode="train" if name == "train" else "eval",
            root=cfg.pixel_cache,
            # Decoding is the one step here that parallelises perfectly, and nothing else runs yet.
            workers=min(4, os.cpu_count() or 1),
        )

    if runtime.is_primary:
        started = time.perf_counter()
        for name in wanted:
            pack(name)
        log.info("pixel cache ready in %.0f s (%s)", time.perf_counter() - started, cfg.pixel_cache)
    # Other ranks open the packs rank 0 built instead of decoding everything again.
    runtime.barrier()
    return Prepared(
        model=model,
        preprocess=preprocess,
        class_names=names,
        melanoma_index=melanoma_index(cfg.task),
        train_set=LesionDataset(
            wanted["train"], task=cfg.task, preprocess=preprocess, augment=cfg.augment, pixels=pack("train")
        ),
        eval_sets={
            name: LesionDataset(recs, task=cfg.task, preprocess=preprocess, pixels=pack(name))
            for name, recs in evaluated.items()
        },
        split=split,
    )


def score_sets(
    model: torch.nn.Module, datasets: dict[str, LesionDataset], *, cfg: TrainConfig, runtime: Runtime, views: int
) -> dict[str, Scored]:
    """Every evaluation set scored by `model` with `views` test-time views, as the metrics need them."""
    precision = choose_precision(cfg.amp, runtime.device)
    return {
        name: Scored(
            logits=predict(
                model,
                ds,
                runtime=runtime,
                batch_size=cfg.batch_size * 2,
                precision=precision,
                channels_last=cfg.channels_last,
                views=views,
            ),
            targets=np.asarray([r.target for r in ds.records]),
            groups=[r.group for r in ds.records],
        )
        for name, ds in datasets.items()
    }


SCORES_NAME = "scores.npz"


def save_scores(
    path: Path, scored: dict[str, Scored], datasets: dict[str, LesionDataset], *, sha256: str, views: int
) -> None:
    """The served logits of every evaluation set, for steps that follow the run (the fusion head) to reuse
    instead of scoring again. Keyed by the artifact's sha256 and the views: valid for those weights only."""
    arrays: dict[str, np.ndarray] = {"sha256": np.asarray(sha256), "views": np.asarray(views)}
    for i, (name, s) in enumerate(scored.items()):
        arrays[f"name_{i}"] = np.asarray(name)
        arrays[f"logits_{i}"] = s.logits
        arrays[f"images_{i}"] = np.asarray([r.image_name for r in datasets[name].records])
    np.savez(path, **arrays)


def load_scores(path: Path, *, sha256: str, views: int, datasets: dict[str, LesionDataset]) -> dict[str, Scored] | None:
    """`save_scores`' logits when they are of these weights, views and records; None otherwise."""
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if str(data["sha256"]) != sha256 or int(data["views"]) != views:
            return None
        names = {str(data[k]): k.removeprefix("name_") for k in data.files if k.startswith("name_")}
        if set(names) != set(datasets):
            return None
        loaded = {}
        for name, ds in datasets.items():
            i = names[name]
            if [str(n) for n in data[f"images_{i}"]] != [r.image_name for r in ds.records]:
                return None
            loaded[name] = Scored(
                logits=np.asarray(data[f"logits_{i}"]),
                targets=np.asarray([r.target for r in ds.records]),
                groups=[r.group for r in ds.records],
            )
    return loaded


def run(cfg: TrainConfig, runtime: Runtime) -> dict[str, Any] | None:
    started = time.perf_counter()
    out = cfg.out_dir
    if runtime.is_primary:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "config.json")
    prepared = prepare(cfg, runtime)
    model, preprocess, names, mel = prepared.model, prepared.preprocess, prepared.class_names, prepared.melanoma_index
    datasets, split = prepared.eval_sets, prepared.split

    result = fit(cfg, runtime, model, prepared.train_set, datasets["val"], num_classes=len(names), melanoma_index=mel)
    model.load_state_dict(result.best_state)

    def scored(views: int) -> dict[str, Scored]:
        return score_sets(model, datasets, cfg=cfg, runtime=runtime, views=views)

    # Figures are those of what is served (`serve_views`); 8-view TTA is reported beside, never instead.
    served = scored(cfg.serve_views)
    with_tta = scored(8) if cfg.tta else None
    if not runtime.is_primary:
        return None

    common = dict(
        melanoma_index=mel,
        calibration_method=cfg.calibration,
        target_sensitivity=cfg.target_sensitivity,
        n_bootstrap=cfg.bootstrap,
        seed=cfg.seed,
    )
    operating, metrics = evaluate(served, **common)
    if with_tta is not None:
        metrics["tta8"] = evaluate(with_tta, **common)[1]
    plot_paths = draw(served, operating, result.history, out / "plots", melanoma_index=mel)

    version = cfg.version or datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    meta = build_meta(
        arch=cfg.arch,
        class_names=list(names),
        melanoma_index=mel,
        preprocess=preprocess,
        threshold=operating.threshold,
        calibration=operating.calibration,
        tta_views=cfg.serve_views,
        metrics=_headline(metrics),
        is_demo=cfg.is_demo,
        name=cfg.name,
        version=version,
    )
    artifact_path = out / ARTIFACT_NAME
    sha256 = save_artifact(artifact_path, state_dict=model.state_dict(), meta=meta)
    save_scores(out / SCORES_NAME, served, datasets, sha256=sha256, views=cfg.serve_views)

    full = {
        **metrics,
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_val_auc,
        "history": result.history,
        "resumed_from_epoch": result.resumed_from_epoch,
        "world_size": runtime.world_size,
        "device": str(runtime.device),
        "wall_seconds": time.perf_counter() - started,
        "sizes": {"train": len(split.train), **{name: len(ds) for name, ds in datasets.items()}},
    }
    (out / "metrics.json").write_text(json.dumps(_json_safe(full), indent=2) + "\n")
    summary = {"artifact": str(artifact_path), "sha256": sha256, "meta": meta, "plots": plot_paths}
    (out / "result.json").write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
    log.info(
        "artifact %s (sha256 %s); test ROC AUC %s", artifact_path, sha256[:12], metrics["splits"]["test"]["roc_auc"]
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    runtime = init_runtime()
    logging.basicConfig(
        level=logging.INFO if runtime.is_primary else logging.WARNING,
        format=f"%(asctime)s [rank {runtime.rank}] %(message)s",
    )
    try:
        run(cfg, runtime)
    finally:
        shutdown(runtime)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
