"""Helpers for the deployment tests: the repository root, deploy/ci.env, a clean environment."""

import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_ENV = ROOT / "deploy" / "ci.env"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as docker-compose reads an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def clean_env(**overrides: str) -> dict[str, str]:
    """The process environment without any Django, database, broker or Firebase setting the test run
    itself uses, so a subprocess sees only what the test gives it."""
    prefixes = ("DJANGO_", "DATABASE_", "CELERY_", "CACHE_", "NAEVUS_", "FIREBASE_", "AWS_", "POSTGRES_", "REDIS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
