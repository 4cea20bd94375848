import io

import factory
from PIL import Image

from classifier.models import ModelVersion
from portal.records.models import Lesion, LesionImage, Patient


def jpeg_bytes(size=(64, 48), color=(180, 120, 90), **save_kwargs) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", **save_kwargs)
    return out.getvalue()


def png_bytes(size=(64, 48), color=(180, 120, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    name = factory.Sequence(lambda n: f"Patient Name {n}")
    sex = "female"
    birth_year = 1970


class LesionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lesion

    patient = factory.SubFactory(PatientFactory)
    anatomic_site = "torso"
    label = factory.Sequence(lambda n: f"lesion {n}")


class LesionImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LesionImage

    lesion = factory.SubFactory(LesionFactory)
    clinic = factory.LazyAttribute(lambda o: o.lesion.patient.clinic)
    file = factory.django.FileField(filename="x.jpg", data=jpeg_bytes())
    content_type = "image/jpeg"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    width = 64
    height = 48


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registry row only (no artifact): for API tests that never run inference."""

    class Meta:
        model = ModelVersion

    name = "test-model"
    version = factory.Sequence(lambda n: f"v{n}")
    arch = "efficientnet_b0"
    img_size = 224
    preprocess = factory.LazyFunction(lambda: {"img_size": 224})
    class_names = factory.LazyFunction(lambda: ["melanoma"])
    threshold = 0.3
    calibration = factory.LazyFunction(lambda: {"method": "none"})
    metrics = factory.LazyFunction(lambda: {"val": {"roc_auc": 0.8}})
    artifact_path = "/nonexistent/model.naevus.pt"
    sha256 = "0" * 64
    is_active = True
    is_demo = True
