"""The Django side: `train` registers an inactive candidate, `export_dataset` feeds it back."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from PIL import Image

from classifier.inference.artifact import load_artifact
from training.core.data import read_siim_isic

pytestmark = pytest.mark.django_db


def test_train_registers_an_inactive_version_with_metrics_and_plots(tmp_path, tiny_source):
    from classifier.models import ModelVersion

    out = io.StringIO()
    call_command(
        "train",
        "--data",
        tiny_source,
        "--arch",
        "test_efficientnet",
        "--init",
        "none",
        "--img-size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--folds",
        "4",
        "--workers",
        "0",
        "--bootstrap",
        "20",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
        "--model-version",
        "t1",
        stdout=out,
    )
    version = ModelVersion.objects.get()
    assert not version.is_active
    assert version.version == "t1" and version.arch == "test_efficientnet"
    assert version.val_auc is not None
    assert set(version.metrics) == {"val", "test"}
    assert set(version.plots) == {"roc", "pr", "reliability", "confusion", "curves"}
    assert "registered model version" in out.getvalue()
    # The out-of-distribution statistics of its training split, under the registered sha256.
    ood = load_artifact(version.artifact_path, expected_sha256=version.sha256).meta["ood"]
    assert ood["source"].startswith("training split") and ood["threshold"] > 0


def test_train_rejects_a_malformed_data_source(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("train", "--data", "no-colon-here", "--out", str(tmp_path / "run"))


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (150, 60, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_export_writes_outcome_images_in_siim_isic_format(tmp_path, clinic_a):
    from portal.records.models import Lesion, LesionImage, Outcome, Patient

    patient = Patient.objects.create(
        clinic=clinic_a, mrn="MRN-SECRET", name="Jane Secret", sex="female", birth_year=1971
    )
    biopsied = Lesion.objects.create(patient=patient, anatomic_site="torso")
    watched = Lesion.objects.create(patient=patient, anatomic_site="unknown")
    data = _jpeg()
    for lesion in (biopsied, biopsied, watched):
        image = LesionImage(
            clinic=clinic_a,
            lesion=lesion,
            content_type="image/jpeg",
            sha256=hashlib.sha256(data).hexdigest(),
            width=20,
            height=20,
            captured_at=datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC),
        )
        image.file.save("x.jpg", ContentFile(data), save=True)
    Outcome.objects.create(
        lesion=biopsied, diagnosis="nevus", benign_malignant="benign", date=datetime.date(2024, 5, 2)
    )
    Outcome.objects.create(
        lesion=biopsied, diagnosis="melanoma", benign_malignant="malignant", date=datetime.date(2024, 6, 1)
    )

    call_command("export_dataset", str(tmp_path / "export"), stdout=io.StringIO())

    rows = list(csv.DictReader((tmp_path / "export" / "train.csv").open()))
    assert len(rows) == 2  # the watched lesion has no outcome yet
    assert {r["diagnosis"] for r in rows} == {"melanoma"}  # the later outcome wins
    assert {r["target"] for r in rows} == {"1"}
    assert rows[0]["age_approx"] == "55.0" and rows[0]["anatom_site_general_challenge"] == "torso"
    exported = (tmp_path / "export" / "train.csv").read_text()
    assert "SECRET" not in exported and "Secret" not in exported
    records = read_siim_isic(tmp_path / "export" / "train.csv", tmp_path / "export" / "images")
    assert {r.patient_id for r in records} == {f"naevus_patient_{patient.pk}"}


def test_export_gives_training_an_image_turned_by_its_recorded_orientation(tmp_path, clinic_a):
    from classifier.inference.preprocessing import open_image
    from portal.records.models import Lesion, LesionImage, Outcome, Patient

    lesion = Lesion.objects.create(patient=Patient.objects.create(clinic=clinic_a, mrn="M1", birth_year=1971))
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (150, 60, 60)).save(buffer, "JPEG")
    image = LesionImage(clinic=clinic_a, lesion=lesion, content_type="image/jpeg", sha256="0" * 64, width=20, height=40)
    image.orientation = 6
    image.file.save("x.jpg", ContentFile(buffer.getvalue()), save=True)
    Outcome.objects.create(lesion=lesion, diagnosis="nevus", benign_malignant="benign", date=datetime.date(2024, 5, 2))

    call_command("export_dataset", str(tmp_path / "export"), stdout=io.StringIO())

    (exported,) = (tmp_path / "export" / "images").iterdir()
    assert open_image(exported, target_size=16).size == (20, 40)
