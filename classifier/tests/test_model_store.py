"""Model versions in object storage (issue #16 item 4): registration publishes a version's files, and a
worker with none of them on its disk fetches both by sha256 into its own cache and verifies them. Against
moto's S3 server (a real HTTP S3 API in a thread; the production-layout test runs it as a process)."""

import os
import shutil
import socket

import boto3
import numpy as np
import pytest
from moto.server import ThreadedMotoServer

from classifier.inference.engine import Engine
from classifier.inference.scoring import ArtifactIntegrityError, sha256_file
from classifier.inference.testing import make_trained_tiny_artifact, sample_images
from classifier.model_store import model_files_local, model_key
from classifier.services import model_version_register

pytestmark = pytest.mark.django_db

BUCKET = "naevus-test-models"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_models(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    options = {
        "bucket_name": BUCKET,
        "endpoint_url": f"http://127.0.0.1:{port}",
        "access_key": "test",
        "secret_key": "test-secret",
        "region_name": "us-east-1",
        "default_acl": "private",
        "location": "models",
        "file_overwrite": True,
    }
    client = boto3.client(
        "s3", endpoint_url=options["endpoint_url"], aws_access_key_id="test", aws_secret_access_key="test-secret",
        region_name="us-east-1",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "models": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    yield client
    server.stop()


def test_a_worker_without_the_files_fetches_them_by_sha256_and_serves_the_same_scores(s3_models, settings, tmp_path):
    sha256, meta = make_trained_tiny_artifact(tmp_path / "trained.naevus.pt")
    version = model_version_register(artifact_path=str(tmp_path / "trained.naevus.pt"), sha256=sha256, meta=meta)
    keys = sorted(o["Key"] for o in s3_models.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == sorted(f"models/{model_key(p)}" for p in (version.artifact_path, version.onnx_path))
    images = [data for data, _ in sample_images()[:8]]
    here = Engine.from_artifact(version.artifact_path, sha256=sha256, onnx_path=version.onnx_path,
                                onnx_sha256=version.onnx_sha256, backend="onnx-cpu").analyse(images)  # fmt: skip

    # Another machine: another model store (empty) and a cache of its own.
    settings.MODEL_STORE = tmp_path / "elsewhere" / "models"
    settings.NAEVUS_MODEL_CACHE = tmp_path / "elsewhere" / "cache"
    for path in (version.artifact_path, version.onnx_path):
        (tmp_path / "gone").mkdir(exist_ok=True)
        shutil.move(path, tmp_path / "gone")
    artifact, onnx = model_files_local(version)
    assert artifact == str(settings.NAEVUS_MODEL_CACHE / f"{version.sha256}.naevus.pt")
    assert sha256_file(artifact) == version.sha256 and sha256_file(onnx) == version.onnx_sha256
    there = Engine.from_artifact(artifact, sha256=sha256, onnx_path=onnx, onnx_sha256=version.onnx_sha256,
                                 backend="onnx-cpu").analyse(images)  # fmt: skip
    assert np.array_equal([r.raw_score for r in here], [r.raw_score for r in there])
    assert model_files_local(version) == (artifact, onnx)  # the cache answers the next time


def test_a_file_changed_in_the_bucket_is_refused_and_not_cached(s3_models, settings, tmp_path):
    sha256, meta = make_trained_tiny_artifact(tmp_path / "trained.naevus.pt")
    version = model_version_register(artifact_path=str(tmp_path / "trained.naevus.pt"), sha256=sha256, meta=meta)
    settings.NAEVUS_MODEL_CACHE = tmp_path / "cache"
    key = f"models/{model_key(version.onnx_path)}"
    body = s3_models.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    s3_models.put_object(Bucket=BUCKET, Key=key, Body=body[:-16] + b"\0" * 16)
    os.remove(version.onnx_path)  # this machine has no copy: it must fetch
    with pytest.raises(ArtifactIntegrityError, match="refusing to serve it"):
        model_files_local(version)
    assert not any((tmp_path / "cache").glob("*.onnx"))
