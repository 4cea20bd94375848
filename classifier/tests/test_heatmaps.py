"""Heatmaps drawn where they are looked at (issue #16 item 2): the worker stores the CAM, the first request
renders the overlay from the stored image and keeps it. Real sample images, a trained tiny model (its CAMs
vary across images), the real API."""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from classifier.heatmaps import cam_pack, cam_unpack
from classifier.inference.engine import Engine
from classifier.inference.heatmap import normalize_cam
from classifier.inference.testing import make_trained_tiny_artifact, sample_images
from classifier.models import Prediction
from classifier.services import model_version_register
from portal.tests.factories import LesionFactory, LesionImageFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_a_packed_cam_is_the_normalised_cam_to_within_one_level():
    cam = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    packed = cam_pack(cam)
    assert packed["shape"] == [7, 6] and len(packed["u8"]) < 100
    assert np.abs(cam_unpack(packed) - normalize_cam(cam)).max() <= 0.5 / 255 + 1e-6


def test_the_first_request_renders_the_overlay_the_worker_used_to_and_later_ones_reuse_it(
    as_user, alice, clinic_a, tmp_path
):
    sha256, meta = make_trained_tiny_artifact(tmp_path / "trained.naevus.pt")
    version = model_version_register(artifact_path=str(tmp_path / "trained.naevus.pt"), sha256=sha256, meta=meta)
    engine = Engine.from_artifact(version.artifact_path, sha256=sha256, backend="onnx-cpu")
    data = sample_images()[0][0]
    (rendered,) = engine.analyse([data])  # what the worker drew before: the PNG in the worker
    (stored,) = engine.analyse([data], render_heatmaps=False)
    assert stored.heatmap_png is None and stored.cam is not None
    image = LesionImageFactory(
        lesion=LesionFactory(patient=PatientFactory(clinic=clinic_a)), file=ContentFile(data, name="s.jpg")
    )
    prediction = Prediction.objects.create(
        image=image,
        model_version=version,
        image_sha256=image.sha256,
        status=Prediction.Status.DONE,
        melanoma_probability=stored.probability,
        cam=cam_pack(stored.cam),
    )
    api = as_user(alice)
    url = api.get(f"/api/v1/predictions/{prediction.pk}/").json()["heatmap_url"]
    assert url and not Prediction.objects.get(pk=prediction.pk).heatmap
    first = api.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    png = b"".join(first.streaming_content)
    kept = Prediction.objects.get(pk=prediction.pk).heatmap.name
    assert kept
    again = api.get(url)
    assert b"".join(again.streaming_content) == png and Prediction.objects.get(pk=prediction.pk).heatmap.name == kept
    ours, theirs = (np.asarray(Image.open(io.BytesIO(p)), dtype=np.int16) for p in (png, rendered.heatmap_png))
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 2  # the CAM quantised to 8 bits, blended at most 60 %
    assert np.abs(ours - theirs).mean() < 0.5


def test_a_prediction_without_a_cam_or_heatmap_has_no_heatmap(as_user, alice, clinic_a, tmp_path):
    image = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=clinic_a)))
    from portal.tests.factories import ModelVersionFactory

    prediction = Prediction.objects.create(
        image=image, model_version=ModelVersionFactory(), image_sha256=image.sha256, status=Prediction.Status.FAILED
    )
    api = as_user(alice)
    assert api.get(f"/api/v1/predictions/{prediction.pk}/").json()["heatmap_url"] is None
    assert api.get(f"/api/v1/predictions/{prediction.pk}/heatmap/").status_code == 404
