"""The models and their migrations agree, whatever the process's hash seed: a model field or constraint built by
iterating a set changes from process to process, and `makemigrations` would then write a spurious migration."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", ["0", "1", "2", "3"])
def test_no_model_change_lacks_a_migration(seed):
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
