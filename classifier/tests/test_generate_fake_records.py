"""`manage.py generate_fake_records`: the synthetic clinic behind bench figure 5."""

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from classifier.models import Prediction
from portal.records.models import Lesion, LesionImage, Patient
from portal.tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def test_it_creates_exactly_the_asked_counts_in_the_given_clinic(clinic_a, alice):
    version = ModelVersionFactory()
    call_command(
        "generate_fake_records", clinic=clinic_a.pk, user="alice", patients=30, lesions=70, images=150, files=2
    )
    assert Patient.objects.filter(clinic=clinic_a).count() == 30
    assert Lesion.objects.filter(patient__clinic=clinic_a).count() == 70
    assert LesionImage.objects.filter(clinic=clinic_a).count() == 150
    done = Prediction.objects.filter(image__clinic=clinic_a, status="done", model_version=version)
    assert done.count() == 150
    assert not Patient.objects.annotate(n=Count("lesions")).filter(n=0).exists()
    assert not Lesion.objects.annotate(n=Count("images")).filter(n=0).exists()
    assert len(set(LesionImage.objects.values_list("file", flat=True))) == 2


def test_the_shared_files_exist_in_storage(clinic_a):
    ModelVersionFactory()
    call_command("generate_fake_records", clinic=clinic_a.pk, patients=2, lesions=2, images=3, files=1)
    image = LesionImage.objects.first()
    with image.file.open("rb") as fh:
        assert fh.read(3) == b"\xff\xd8\xff"


def test_it_refuses_to_run_without_an_active_model(clinic_a):
    with pytest.raises(CommandError, match="no active model"):
        call_command("generate_fake_records", clinic=clinic_a.pk, patients=2, lesions=2, images=2)


def test_it_refuses_fewer_lesions_than_patients(clinic_a):
    ModelVersionFactory()
    with pytest.raises(CommandError, match="patients <= lesions"):
        call_command("generate_fake_records", clinic=clinic_a.pk, patients=5, lesions=3, images=10)
