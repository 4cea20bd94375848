"""deploy/entrypoint.sh with stand-in `celery` and `python` commands that record how they were started."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"

# Records its GPU and arguments, then waits to be stopped; the one on GPU FAIL_ON_GPU exits with 3.
# As `python -c` (the entrypoint asking torch for the GPUs) it prints FAKE_GPUS instead.
FAKE = """#!/usr/bin/env bash
if [[ "$1" == "-c" ]]; then echo "${FAKE_GPUS:-}"; exit 0; fi
record="$RECORDS/$$"
trap 'echo stopped >> "$record"; exit 0' TERM
echo "${CUDA_VISIBLE_DEVICES:-none} $*" > "$record"
if [[ "${CUDA_VISIBLE_DEVICES:-}" == "${FAIL_ON_GPU:-x}" ]]; then
    # Die only once the others are up, as a worker that crashes on its first task would.
    while (( $(ls "$RECORDS" | wc -l) < ${EXPECTED:-1} )); do sleep 0.05; done
    exit 3
fi
while true; do sleep 0.05; done
"""


@pytest.fixture
def fakes(tmp_path):
    bin_dir, records = tmp_path / "bin", tmp_path / "records"
    bin_dir.mkdir()
    records.mkdir()
    for name in ("celery", "python"):
        (bin_dir / name).write_text(FAKE)
        (bin_dir / name).chmod(0o755)
    env = clean_env(RECORDS=str(records))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, records


def start(env, *args, **extra) -> subprocess.Popen:
    return subprocess.Popen([str(ENTRYPOINT), *args], cwd=ROOT, env={**env, **extra}, stderr=subprocess.PIPE, text=True)


def read_records(records: Path, count: int, timeout: float = 10) -> list[list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(records.iterdir())
        if len(files) >= count and all(f.read_text().strip() for f in files):
            return [f.read_text().split("\n") for f in files]
        time.sleep(0.05)
    raise AssertionError(f"expected {count} processes to start, saw {len(list(records.iterdir()))}")


def test_the_gpu_worker_runs_one_single_process_worker_per_gpu_and_stops_them_all_on_sigterm(fakes):
    env, records = fakes
    proc = start(env, "gpu-worker", NAEVUS_GPU_IDS="0,1")
    started = read_records(records, 2)
    by_gpu = {lines[0].split(" ", 1)[0]: lines[0] for lines in started}
    assert set(by_gpu) == {"0", "1"}
    for gpu, line in by_gpu.items():
        assert "worker -Q inference --concurrency 1" in line and f"-n gpu{gpu}@%h" in line
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert all("stopped" in f.read_text() for f in records.iterdir())


def test_when_one_gpu_worker_dies_the_container_exits_with_its_status_and_stops_the_others(fakes):
    env, records = fakes
    proc = start(env, "gpu-worker", NAEVUS_GPU_IDS="0,1", FAIL_ON_GPU="1", EXPECTED="2")
    assert proc.wait(timeout=10) == 3
    survivor = next(f for f in records.iterdir() if f.read_text().startswith("0 "))
    assert "stopped" in survivor.read_text()


def test_the_gpu_worker_refuses_to_start_without_a_gpu(fakes):
    env, _ = fakes
    # torch lists no device on a machine without CUDA, or with a CPU-only build.
    proc = start(env, "gpu-worker", FAKE_GPUS="")
    assert proc.wait(timeout=10) == 1
    assert "no GPU visible" in proc.stderr.read()


def test_training_gets_one_process_per_gpu_torch_sees_and_the_callers_arguments(fakes):
    env, records = fakes
    proc = start(env, "train", "--data", "/data/labels.csv:/data/images", "--epochs", "3", FAKE_GPUS="0 1 2")
    (lines,) = read_records(records, 1)
    assert lines[0] == "none manage.py train --nproc-per-node 3 --data /data/labels.csv:/data/images --epochs 3"
    proc.terminate()
    proc.wait(timeout=10)


def test_training_without_a_gpu_runs_one_process_on_the_cpu(fakes):
    env, records = fakes
    proc = start(env, "train", "--data", "x.csv:images", FAKE_GPUS="")
    (lines,) = read_records(records, 1)
    assert lines[0] == "none manage.py train --nproc-per-node 1 --data x.csv:images"
    proc.terminate()
    proc.wait(timeout=10)


def test_the_cpu_worker_takes_the_configured_queues_with_prefetch_one(fakes):
    env, records = fakes
    proc = start(env, "worker", NAEVUS_WORKER_QUEUES="inference")
    (lines,) = read_records(records, 1)
    assert "worker -Q inference --concurrency 2 -n cpu-inference@%h --prefetch-multiplier 1" in lines[0]
    proc.terminate()
    proc.wait(timeout=10)
