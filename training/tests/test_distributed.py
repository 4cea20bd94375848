"""The real torchrun launcher, two gloo processes, a tiny model on tiny generated images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from training.core.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def test_two_gloo_ranks_end_with_identical_weights_and_only_rank_0_writes_checkpoints(tmp_path, tiny_source):
    cfg = TrainConfig(
        data=[tiny_source],
        out=str(tmp_path / "run"),
        arch="test_efficientnet",
        init="none",
        img_size=32,
        epochs=2,
        batch_size=4,
        folds=4,
        workers=0,
        progress=False,
        ema_decay=0.9,
        seed=5,
    )
    cfg.out_dir.mkdir()
    cfg.save(tmp_path / "cfg.json")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "training.tests.ddp_worker",
            str(tmp_path / "cfg.json"),
        ],
        cwd=REPO,
        env=_env(),
        check=True,
        timeout=600,  # two processes on a shared 2-core machine took over 120 s under load
    )
    rank0 = torch.load(cfg.out_dir / "rank0.pt", weights_only=True)
    rank1 = torch.load(cfg.out_dir / "rank1.pt", weights_only=True)
    changed = 0
    for name, weight in rank0["final"].items():
        assert torch.equal(weight, rank1["final"][name]), name
        changed += not torch.equal(weight, rank0["initial"][name])
    assert changed > len(rank0["final"]) // 2, "training barely touched the weights"
    # Rank 0 alone writes checkpoints: every epoch's, and rank 1 none (both ranks share the folder, so the
    # files alone could not say who wrote them).
    by_rank0 = (cfg.out_dir / "checkpoints-written-by-rank0.txt").read_text().split()
    assert by_rank0.count("last.pt") == cfg.epochs and "best.pt" in by_rank0
    assert (cfg.out_dir / "checkpoints-written-by-rank1.txt").read_text() == ""
    assert (cfg.out_dir / "checkpoints" / "last.pt").is_file()
