import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from classifier.inference.engine import Engine, prepare_onnx
from classifier.inference.scoring import ArtifactIntegrityError
from classifier.inference.testing import MIN_LOGIT_SPREAD, SAMPLES, logit_spread, make_trained_tiny_artifact

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def registered(tmp_path):
    sha256, _ = make_trained_tiny_artifact(tmp_path / "m.naevus.pt")
    onnx_sha256 = prepare_onnx(tmp_path / "m.naevus.pt", tmp_path / "m.onnx", sha256=sha256)
    return tmp_path / "m.naevus.pt", sha256, tmp_path / "m.onnx", onnx_sha256


def test_a_cpu_worker_serves_the_onnx_twin_without_importing_torch(registered):
    artifact, sha256, onnx_path, onnx_sha256 = registered
    images = [str(p) for p in sorted(SAMPLES.glob("*.jpg"))]
    torch_engine = Engine.from_artifact(artifact, sha256=sha256, backend="torch-cpu")
    reference = [r.raw_score for r in torch_engine.analyse([Path(p).read_bytes() for p in images])]
    script = textwrap.dedent(f"""
        import sys
        from classifier.inference.engine import Engine
        engine = Engine.from_artifact({str(artifact)!r}, sha256={sha256!r}, onnx_path={str(onnx_path)!r},
                                      onnx_sha256={onnx_sha256!r}, backend="onnx-cpu")
        results = engine.analyse([open(p, "rb").read() for p in {images!r}])
        print("torch" in sys.modules, "timm" in sys.modules, *(r.raw_score for r in results))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    torch_loaded, timm_loaded, *served = out.split()
    assert (torch_loaded, timm_loaded) == ("False", "False")
    assert logit_spread(reference) >= MIN_LOGIT_SPREAD
    assert max(abs(float(a) - b) for a, b in zip(served, reference, strict=True)) < 1e-4


def test_the_onnx_path_still_refuses_a_tampered_artifact(registered):
    artifact, sha256, onnx_path, onnx_sha256 = registered
    artifact.write_bytes(artifact.read_bytes() + b"x")
    with pytest.raises(ArtifactIntegrityError):
        Engine.from_artifact(artifact, sha256=sha256, onnx_path=onnx_path, onnx_sha256=onnx_sha256, backend="onnx-cpu")


def test_the_onnx_path_refuses_a_tampered_onnx_file(registered):
    artifact, sha256, onnx_path, onnx_sha256 = registered
    onnx_path.write_bytes(onnx_path.read_bytes() + b"x")
    with pytest.raises(ArtifactIntegrityError):
        Engine.from_artifact(artifact, sha256=sha256, onnx_path=onnx_path, onnx_sha256=onnx_sha256, backend="onnx-cpu")
