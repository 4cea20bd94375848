"""Django side of training: launch the torchrun job, then register its artifact (node 0 only)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.core.config import TrainConfig
from training.core.data import DataError, parse_source

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


class TrainingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Launch:
    """torchrun's topology flags; one node by default."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500

    def torchrun_args(self) -> list[str]:
        if self.nnodes == 1:
            # --standalone picks a free local port, so concurrent jobs on one machine don't collide.
            return ["--standalone", f"--nproc-per-node={self.nproc_per_node}"]
        return [
            f"--nproc-per-node={self.nproc_per_node}",
            f"--nnodes={self.nnodes}",
            f"--node-rank={self.node_rank}",
            f"--master-addr={self.master_addr}",
            f"--master-port={self.master_port}",
        ]


def training_run(*, cfg: TrainConfig, launch: Launch) -> dict[str, Any] | None:
    """Run the job through torch's elastic launcher; returns result.json on node 0, else None.

    The workers are plain `python -m training.core.run` processes: they never set up Django.
    """
    for spec in (*cfg.data, *cfg.external):
        # Fail here in a second rather than after torchrun has started every worker.
        csv_path, images = parse_source(spec)
        if not csv_path.is_file() or not images.is_dir():
            raise DataError(f"{spec}: the CSV file or the image folder does not exist")
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    cfg.save(config_path)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launch.torchrun_args(),
        "-m",
        "training.core.run",
        "--config",
        str(config_path),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    logger.info("training job starting: %d node(s) x %d process(es), out=%s", launch.nnodes, launch.nproc_per_node, out)
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, check=False)
    if completed.returncode != 0:
        raise TrainingError(f"training job exited with status {completed.returncode}; see its log above")
    if launch.node_rank != 0:
        return None
    return json.loads((out / "result.json").read_text())


def _after_run(out: Path, *, module_args: list[str], step: str) -> dict[str, Any]:
    """Run ``python -m <module_args>`` on a finished run, in its own process like the training job;
    returns the run's result.json as the step left it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    logger.info("%s step: out=%s", step, out)
    completed = subprocess.run([sys.executable, "-m", *module_args], cwd=REPO_ROOT, env=env, check=False)
    if completed.returncode != 0:
        raise TrainingError(f"the {step} step exited with status {completed.returncode}; see its log above")
    return json.loads((Path(out) / "result.json").read_text())


def training_fuse(*, out: Path) -> dict[str, Any]:
    """Fit the metadata fusion head on the run's validation set and store it in its artifact
    (`python -m training.core.fusion OUT --write`); returns the updated result.json, whose sha256 now
    covers the head."""
    return _after_run(out, module_args=["training.core.fusion", str(out), "--write"], step="fusion")


def training_ood(*, out: Path) -> dict[str, Any]:
    """Fit the out-of-distribution statistics on the run's training split (threshold from validation)
    and store them in its artifact (`python -m training.core.ood --run OUT`); returns the updated
    result.json, whose sha256 now covers them."""
    return _after_run(out, module_args=["training.core.ood", "--run", str(out)], step="ood")


def training_register(
    *, result: dict[str, Any], is_demo: bool, activate_if_better: bool = False, activate: bool = False
):
    """Record the job's artifact as a model version (inactive unless asked)."""
    from classifier.services import model_version_register

    return model_version_register(
        artifact_path=result["artifact"],
        sha256=result["sha256"],
        meta=result["meta"],
        plots=result["plots"],
        is_demo=is_demo,
        activate_if_better=activate_if_better,
        activate=activate,
    )
