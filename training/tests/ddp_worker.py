"""Run by torchrun in test_distributed: train, then save this rank's weights for comparison. Every
checkpoint write still happens; each rank also lists the ones it made, so the test sees who wrote."""

from __future__ import annotations

import sys

import torch

from training.core import checkpoint
from training.core.config import TrainConfig
from training.core.distributed import init_runtime, shutdown
from training.core.loop import fit
from training.core.run import prepare


def main() -> None:
    cfg = TrainConfig.load(sys.argv[1])
    runtime = init_runtime()
    written = cfg.out_dir / f"checkpoints-written-by-rank{runtime.rank}.txt"
    written.touch()
    atomic_save = checkpoint.atomic_save

    def listed_save(obj, path):
        atomic_save(obj, path)
        with open(written, "a") as fh:
            fh.write(f"{path.name}\n")

    checkpoint.atomic_save = listed_save
    prepared = prepare(cfg, runtime)
    initial = {k: v.clone() for k, v in prepared.model.state_dict().items()}
    fit(
        cfg,
        runtime,
        prepared.model,
        prepared.train_set,
        prepared.eval_sets["val"],
        num_classes=len(prepared.class_names),
        melanoma_index=prepared.melanoma_index,
    )
    torch.save(
        {"initial": initial, "final": prepared.model.state_dict(), "seen": len(prepared.train_set)},
        cfg.out_dir / f"rank{runtime.rank}.pt",
    )
    shutdown(runtime)


if __name__ == "__main__":
    main()
