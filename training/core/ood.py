"""Fit the out-of-distribution statistics (`classifier.inference.ood`) and store them in an artifact.

    python -m training.core.ood ARTIFACT --images DIR --out NEW_ARTIFACT [--folds 5] [--percentile 99]
    python -m training.core.ood --run OUT

From a folder: the artifact's model embeds every image in DIR (the served preprocessing and
test-time views); the mean and covariance are fitted on all of them, the threshold is the
`--percentile` of each image's distance under the statistics of the other `--folds` (out of fold).
The artifact with `ood` in its meta is written to NEW_ARTIFACT (a new file and sha256; register it
with `manage.py model import`).

From a training run (what `manage.py train` does at the end of every run): fitted on the run's
training split, threshold from its validation split, written into OUT/model.naevus.pt and
OUT/result.json (a new sha256, which is what then gets registered).

Prints the sha256 of what it wrote.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifier.inference.artifact import ARTIFACT_NAME, load_artifact, save_artifact, validate_meta
from classifier.inference.engine import BACKEND_TORCH_CPU, BACKEND_TORCH_CUDA, Engine
from classifier.inference.factory import embedding_of
from classifier.inference.ood import DEFAULT_PERCENTILE, fit_stats, fit_stats_cross_validated

log = logging.getLogger("training")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class Embedder(nn.Module):
    """``x → embedding``, so that training's ``predict`` (views, ranks, order) yields embeddings."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return embedding_of(self.model, self.model.forward_features(x))


def folder_images(images: Path) -> list[Path]:
    return sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def embed_files(artifact_path: Path, paths: list[Path], *, sha256: str | None = None) -> np.ndarray:
    """Embeddings of ``paths`` as the artifact's model serves them (torch, CUDA when present)."""
    backend = BACKEND_TORCH_CUDA if torch.cuda.is_available() else BACKEND_TORCH_CPU
    engine = Engine.from_artifact(artifact_path, sha256=sha256, backend=backend)
    return engine.embed([os.fspath(p) for p in paths])


def stats_from_folder(
    artifact_path: Path,
    images: Path,
    *,
    folds: int = 5,
    percentile: float = DEFAULT_PERCENTILE,
    seed: int = 0,
    sha256: str | None = None,
) -> dict:
    paths = folder_images(images)
    if len(paths) < 2 * folds:
        raise ValueError(f"{images}: {len(paths)} images; at least {2 * folds} are needed")
    embeddings = embed_files(artifact_path, paths, sha256=sha256)
    return fit_stats_cross_validated(
        embeddings, folds=folds, seed=seed, percentile=percentile, source=f"folder {images.name}"
    )


def write_stats(artifact_path: Path, out: Path, stats: dict, *, sha256: str | None = None) -> tuple[str, dict]:
    """The artifact with ``meta["ood"] = stats``, written (atomically) to ``out``; (sha256, meta)."""
    artifact = load_artifact(artifact_path, expected_sha256=sha256)
    meta = {**artifact.meta, "ood": stats}
    validate_meta(meta)
    return save_artifact(out, state_dict=artifact.state_dict, meta=meta), meta


def stats_from_run(out: Path, *, percentile: float = DEFAULT_PERCENTILE) -> dict:
    """Fitted on the run's training split (served views, no augmentation), threshold from validation."""
    from training.core.cache import build_pack
    from training.core.config import TrainConfig
    from training.core.dataset import LesionDataset
    from training.core.distributed import init_runtime
    from training.core.loop import choose_precision, predict
    from training.core.run import prepare

    cfg = TrainConfig.load(out / "config.json")
    served = json.loads((out / "result.json").read_text())
    artifact = load_artifact(out / ARTIFACT_NAME, expected_sha256=served["sha256"])
    runtime = init_runtime(force_cpu=not torch.cuda.is_available())
    prepared = prepare(cfg, runtime)
    model = prepared.model
    model.load_state_dict(artifact.state_dict, strict=True)
    embedder = Embedder(model.to(runtime.device)).eval()
    train_records = prepared.train_set.records
    # The training pack holds whole fields of view for random crops; the served centre crop needs its own.
    train_eval = LesionDataset(
        train_records,
        task=cfg.task,
        preprocess=prepared.preprocess,
        pixels=build_pack(
            train_records,
            preprocess=prepared.preprocess,
            mode="eval",
            root=cfg.pixel_cache,
            workers=min(4, os.cpu_count() or 1),
        ),
    )
    common = dict(
        runtime=runtime,
        batch_size=cfg.batch_size * 2,
        precision=choose_precision(cfg.amp, runtime.device),
        channels_last=cfg.channels_last,
        views=int(artifact.meta.get("tta_views", 1)),
    )
    with torch.no_grad():
        train = predict(embedder, train_eval, **common)
        val = predict(embedder, prepared.eval_sets["val"], **common)
    return fit_stats(train, val, percentile=percentile, source="training split; threshold from validation")


def write_run(out: Path, stats: dict) -> dict:
    """Store the stats in the run's artifact (a new sha256) and update result.json."""
    served = json.loads((out / "result.json").read_text())
    sha256, meta = write_stats(out / ARTIFACT_NAME, out / ARTIFACT_NAME, stats, sha256=served["sha256"])
    served.update({"sha256": sha256, "meta": meta})
    (out / "result.json").write_text(json.dumps(served, indent=2) + "\n")
    log.info("ood statistics written into %s (sha256 %s)", out / ARTIFACT_NAME, sha256[:12])
    return served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", nargs="?", type=Path)
    parser.add_argument("--images", type=Path, help="folder of training images (JPEG/PNG)")
    parser.add_argument("--out", type=Path, help="where the artifact with the statistics is written")
    parser.add_argument("--sha256", help="the artifact's registered sha256, checked first")
    parser.add_argument("--run", type=Path, help="a `manage.py train` run folder (OUT), updated in place")
    parser.add_argument("--folds", type=int, default=5, help="folds for the out-of-fold threshold")
    parser.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.run is not None:
        served = write_run(args.run, stats_from_run(args.run, percentile=args.percentile))
        print(f"ood statistics written into {args.run / ARTIFACT_NAME}; sha256 {served['sha256']}")
        return 0
    if args.artifact is None or args.images is None or args.out is None:
        parser.error("give ARTIFACT --images DIR --out PATH, or --run OUT")
    stats = stats_from_folder(
        args.artifact,
        args.images,
        folds=args.folds,
        percentile=args.percentile,
        seed=args.seed,
        sha256=args.sha256,
    )
    sha256, _ = write_stats(args.artifact, args.out, stats, sha256=args.sha256)
    print(
        f"fitted on {stats['n_fit']} images, threshold {stats['threshold']:.3f} (percentile {stats['percentile']:g} "
        f"of {stats['n_calibration']} out-of-fold distances); wrote {args.out} sha256 {sha256}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
