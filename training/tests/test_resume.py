"""A killed run resumes from its last checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from training.core import checkpoint
from training.core.config import TrainConfig
from training.core.run import main as run_main

REPO = Path(__file__).resolve().parents[2]


def _config(source: str, out: Path, **changes) -> TrainConfig:
    return TrainConfig(
        data=[source],
        out=str(out),
        arch="test_efficientnet",
        init="none",
        img_size=32,
        epochs=12,
        batch_size=4,
        folds=4,
        workers=0,
        progress=False,
        bootstrap=0,
        seed=3,
        **changes,
    )


def _checkpoint_epoch(out: Path) -> int:
    path = checkpoint.latest(out / "checkpoints")
    return -1 if path is None else checkpoint.load(path)["epoch"]


def test_a_killed_run_continues_from_its_checkpoint(tmp_path, tiny_source):
    out = tmp_path / "killed"
    cfg = _config(tiny_source, out)
    out.mkdir()
    cfg.save(tmp_path / "cfg.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.core.run", "--config", str(tmp_path / "cfg.json")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while _checkpoint_epoch(out) < 1 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_epoch(out)
    assert 1 <= killed_at < cfg.epochs - 1
    assert not (out / "metrics.json").exists()

    _config(tiny_source, out, resume=True).save(tmp_path / "resume.json")
    run_main(["--config", str(tmp_path / "resume.json")])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == killed_at + 1
    assert [h["epoch"] for h in metrics["history"]] == list(range(cfg.epochs))

    straight = tmp_path / "straight"
    _config(tiny_source, straight).save(tmp_path / "straight.json")
    run_main(["--config", str(tmp_path / "straight.json")])
    resumed_weights = checkpoint.load(out / "checkpoints" / checkpoint.LAST)["model"]
    straight_weights = checkpoint.load(straight / "checkpoints" / checkpoint.LAST)["model"]
    for name, weight in straight_weights.items():
        torch.testing.assert_close(resumed_weights[name], weight, rtol=1e-4, atol=1e-5, msg=name)
