"""Where registered model versions live, so that a worker on any machine can serve them.

Registration writes a version's files (the artifact, its ONNX twin, its plots) into a folder of the local
`MODEL_STORE` named `<name>-<version>-<sha256[:12]>`, and publishes them to the model storage under
`<that folder>/<file>`: the configured object store (S3-compatible, `STORAGES["models"]`, set with
`NAEVUS_S3_BUCKET`) or, on one machine, `MODEL_STORE` itself. A worker serves a version from its own
disk when the recorded path holds the right bytes, and otherwise fetches both files by key into its
local cache (`NAEVUS_MODEL_CACHE`, named by sha256), verifying each hash before use: no shared disk.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

from .inference.scoring import ArtifactIntegrityError, sha256_file

logger = logging.getLogger(__name__)


def model_storage() -> Storage:
    if "models" in settings.STORAGES:
        return storages["models"]
    return FileSystemStorage(location=settings.MODEL_STORE)


def model_key(local_path: str | os.PathLike) -> str:
    """A version file's key in the model storage: its registration folder and its name."""
    path = Path(local_path)
    return f"{path.parent.name}/{path.name}"


def _is_local_store(storage: Storage) -> bool:
    return (
        isinstance(storage, FileSystemStorage)
        and Path(storage.location).resolve() == Path(settings.MODEL_STORE).resolve()
    )


def model_files_publish(folder: Path, names: list[str]) -> None:
    """Upload a registered version's files (each once: a folder's content is fixed by its sha256)."""
    storage = model_storage()
    if _is_local_store(storage):
        return
    for name in names:
        key = f"{folder.name}/{name}"
        if storage.exists(key):
            continue
        with open(folder / name, "rb") as fh:
            saved = storage.save(key, fh)
        if saved != key:
            raise RuntimeError(f"the model storage stored {key} as {saved}")
        logger.info("published model file %s", key)


def _fetch(key: str, sha256: str, suffix: str) -> Path:
    cache = Path(settings.NAEVUS_MODEL_CACHE)
    target = cache / f"{sha256}{suffix}"
    if target.is_file() and sha256_file(target) == sha256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f".{sha256}{suffix}.{os.getpid()}.part"
    with model_storage().open(key, "rb") as source, open(partial, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    found = sha256_file(partial)
    if found != sha256:
        partial.unlink(missing_ok=True)
        raise ArtifactIntegrityError(
            f"model file {key} in the model storage has sha256 {found[:12]}…, the registry says {sha256[:12]}…; "
            "refusing to serve it"
        )
    partial.replace(target)
    logger.info("fetched model file %s into the local cache", key)
    return target


def _local(path: str, sha256: str) -> str | None:
    return path if path and Path(path).is_file() and sha256_file(path) == sha256 else None


def model_files_local(version) -> tuple[str, str | None]:
    """Local paths of `version`'s artifact and ONNX twin, each verified against its recorded sha256:
    the registered paths when this machine holds them, else copies fetched from the model storage."""
    artifact = _local(version.artifact_path, version.sha256) or str(
        _fetch(model_key(version.artifact_path), version.sha256, ".naevus.pt")
    )
    onnx = None
    if version.onnx_path and version.onnx_sha256:
        onnx = _local(version.onnx_path, version.onnx_sha256) or str(
            _fetch(model_key(version.onnx_path), version.onnx_sha256, ".onnx")
        )
    return artifact, onnx


def model_file_open(version, file_name: str):
    """One of the version's stored files (a plot), from this machine's copy or the model storage."""
    local = Path(version.artifact_path).parent / file_name
    if local.is_file():
        return open(local, "rb")
    key = f"{Path(version.artifact_path).parent.name}/{file_name}"
    storage = model_storage()
    if not storage.exists(key):
        raise FileNotFoundError(key)
    return storage.open(key, "rb")
