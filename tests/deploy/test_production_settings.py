"""portal.settings.production in a subprocess, with the environment deploy/ci.env describes."""

import json
import subprocess
import sys

import pytest

from .conftest import CI_ENV, ROOT, clean_env, read_env_file

pytestmark = pytest.mark.slow


def manage(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    settings = {**read_env_file(CI_ENV), "DJANGO_SETTINGS_MODULE": "portal.settings.production"}
    settings.update(env)
    settings = {k: v for k, v in settings.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_deploy_is_clean_with_a_realistic_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "System check identified no issues" in output


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_DEBUG", "1", "DJANGO_DEBUG must be off"),
        ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099", "FIREBASE_AUTH_EMULATOR_HOST"),
        ("CELERY_BROKER_URL", "filesystem://", "must be a redis:// URL"),
        ("CACHE_URL", "locmemcache://", "CACHE_URL must be a redis:// URL"),
        ("CACHE_URL", "dbcache://naevus_cache", "CACHE_URL must be a redis:// URL"),
        ("FIREBASE_PROJECT_ID", "naevus-prod", "FIREBASE_CREDENTIALS_FILE"),
    ],
)
def test_it_refuses_to_start_when_misconfigured(variable, value, message):
    result = manage("check", **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


@pytest.mark.parametrize(
    "variable", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"]
)
def test_it_refuses_to_start_without_a_required_setting(variable):
    result = manage("check", **{variable: None})
    assert result.returncode != 0
    assert f"Set the {variable} environment variable" in result.stderr


def test_its_logs_are_one_json_object_per_line_with_ids_not_names():
    result = manage(
        "shell",
        "-c",
        "import logging; logging.getLogger('classifier.tasks').warning('prediction %s failed', 42)",
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert {"logger": "classifier.tasks", "level": "WARNING", "message": "prediction 42 failed"}.items() <= records[
        -1
    ].items()


def test_static_files_are_stored_under_hashed_names_for_far_future_caching(tmp_path):
    result = manage("collectstatic", "--noinput", "-v", "0", DJANGO_STATIC_ROOT=str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    css = manifest["admin/css/base.css"]
    assert css != "admin/css/base.css" and (tmp_path / css).exists() and (tmp_path / f"{css}.gz").exists()
