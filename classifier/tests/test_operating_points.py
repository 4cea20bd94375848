"""A clinic's own operating point, end to end: 64 real HAM10000 images (samples/isic) analysed by a
real worker, their biopsy outcomes recorded through the API, then the command and the admin action."""

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db.models import F
from sklearn.metrics import roc_auc_score

from classifier.inference.scoring import recalibrate
from classifier.models import ClinicOperatingPoint, Prediction
from classifier.operating_points import operating_point_fit, outcomes_needed
from portal.audit.models import AuditEvent
from portal.core.exceptions import ApplicationError
from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, PatientFactory

from .conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ISIC = Path(__file__).resolve().parents[2] / "samples" / "isic"
LABELS = list(csv.DictReader((ISIC / "labels.csv").open()))
MELANOMAS = [row for row in LABELS if row["diagnosis"] == "melanoma"]
BENIGN = [row for row in LABELS if row["diagnosis"] != "melanoma"]


@pytest.fixture
def ranking_tiny_model(transactional_db, tmp_path):
    """Random weights, but seed 5's score happens to rank these 64 images better than chance
    (ROC AUC about 0.68) and all of them near 0.5: the version's global threshold of 0.5 calls most
    of them routine, so a clinic threshold chosen for sensitivity moves many of them."""
    from classifier.inference.testing import make_tiny_artifact
    from classifier.services import model_version_register

    sha256, meta = make_tiny_artifact(tmp_path / "tiny.naevus.pt", img_size=64, seed=5)
    return model_version_register(
        artifact_path=str(tmp_path / "tiny.naevus.pt"), sha256=sha256, meta=meta, activate=True
    )


def _upload_isic(api) -> int:
    """One batch of the 64 images, each on its own new patient and lesion (mapping CSV)."""
    archive, mapping = io.BytesIO(), io.StringIO()
    mapping.write("file_name,mrn\n")
    with zipfile.ZipFile(archive, "w") as zf:
        for row in LABELS:
            zf.write(ISIC / f"{row['image_name']}.jpg", f"{row['image_name']}.jpg")
            mapping.write(f"{row['image_name']}.jpg,{row['image_name']}\n")
    response = api.post(
        "/api/v1/batches/",
        {
            "archive": SimpleUploadedFile("isic.zip", archive.getvalue(), "application/zip"),
            "mapping": SimpleUploadedFile("mapping.csv", mapping.getvalue().encode(), "text/csv"),
            "create_missing": "true",
        },
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return response.json()["id"]


def _record_outcomes(api, clinic, rows) -> None:
    lesions = {image.original_name: image.lesion_id for image in LesionImage.objects.filter(clinic=clinic)}
    for row in rows:
        response = api.post(
            f"/api/v1/lesions/{lesions[row['image_name'] + '.jpg']}/outcomes/",
            {"diagnosis": row["diagnosis"], "benign_malignant": row["benign_malignant"], "date": "2026-06-01"},
            format="json",
        )
        assert response.status_code == 201, response.content


def _upload_one(api, clinic, jpeg: bytes) -> dict:
    lesion = LesionFactory(patient=PatientFactory(clinic=clinic))
    response = api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile("again.jpg", jpeg, "image/jpeg")]},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    url = response.json()["images"][0]["predictions"][0]["url"]
    return wait_for(lambda: (b := api.get(url).json())["status"] == "done" and b, timeout=90, message="prediction")


@pytest.fixture(autouse=True)
def _fewer_resamples(settings):
    # A 1000-resample report took about a minute on a loaded 2-core machine; 200 keep these short.
    settings.NAEVUS_OPERATING_POINT_BOOTSTRAP = 200


# 64 real images through a worker process, their outcomes through the API, and two fits.
@pytest.mark.timeout(600)
def test_a_clinic_gets_its_own_threshold_from_its_outcomes_and_another_clinic_keeps_the_global_one(
    as_user, alice, charlie, clinic_a, clinic_b, ranking_tiny_model, worker
):
    version = ranking_tiny_model
    api = as_user(alice)
    batch_id = _upload_isic(api)
    wait_for(
        lambda: api.get(f"/api/v1/batches/{batch_id}/").json()["done"] == len(LABELS),
        timeout=180,
        message="64 predictions from the worker",
    )

    # 19 melanomas: one short of what a 0.95 target needs, so it refuses and nothing changes.
    assert outcomes_needed(target_sensitivity=0.95) == (20, 20)
    _record_outcomes(api, clinic_a, MELANOMAS[:19] + BENIGN)
    with pytest.raises(CommandError, match="19 melanoma and 32 benign.*at least 20 melanoma and 20 benign"):
        call_command("calibrate", "--model-version", version.pk, "--clinic", clinic_a.pk)
    assert not ClinicOperatingPoint.objects.exists()

    _record_outcomes(api, clinic_a, MELANOMAS[19:])
    out = io.StringIO()
    call_command("calibrate", "--model-version", version.pk, "--clinic", clinic_a.pk, stdout=out)
    assert "n=64 (32 melanoma, 32 benign, 64 patients)" in out.getvalue()
    point = ClinicOperatingPoint.objects.get(is_active=True)
    assert (point.clinic, point.model_version, point.target_sensitivity) == (clinic_a, version, 0.95)

    # The report measures what the worker stored, against the recorded diagnoses.
    stored = {
        p.image.original_name: p.model_probability
        for p in Prediction.objects.filter(image__clinic=clinic_a).select_related("image")
    }
    y = np.array([row["diagnosis"] == "melanoma" for row in LABELS], dtype=int)
    p = np.array([stored[row["image_name"] + ".jpg"] for row in LABELS])
    report = point.report
    assert (report["n"], report["melanomas"], report["benign"]) == (64, 32, 32)
    assert report["global"]["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert report["global"]["roc_auc_ci95"][0] < report["global"]["roc_auc"] < report["global"]["roc_auc_ci95"][1]
    assert report["local"]["sensitivity"] >= 0.95
    local = recalibrate(p, point.calibration)
    assert report["local"]["specificity"] == pytest.approx(np.mean(local[y == 0] < point.threshold))

    # An image the global threshold calls routine and the clinic's calls refer (or the other way).
    flips = [
        row["image_name"]
        for row, pv, pl in zip(LABELS, p, local, strict=True)
        if (pv >= version.threshold) != (pl >= point.threshold)
    ]
    assert flips, "no image lies between the global and the local threshold"
    jpeg = (ISIC / f"{flips[0]}.jpg").read_bytes()
    at_a = _upload_one(api, clinic_a, jpeg)
    at_b = _upload_one(as_user(charlie), clinic_b, jpeg)
    assert at_a["model_probability"] == pytest.approx(at_b["model_probability"])
    assert at_a["operating_point"] == {"scope": "clinic", "id": point.pk}
    assert at_a["threshold"] == pytest.approx(point.threshold)
    assert at_b["operating_point"] == {"scope": "global", "id": None}
    assert at_b["threshold"] == pytest.approx(version.threshold)
    assert at_a["risk_category"] != at_b["risk_category"]
    assert at_a["risk_category"] == ("refer" if at_a["melanoma_probability"] >= point.threshold else "routine")

    # The report is clinic A's: alice reads it, charlie gets 404 and the denial is audited.
    api = as_user(alice)
    listed = api.get(f"/api/v1/operating-points/?model_version={version.pk}").json()
    assert [entry["id"] for entry in listed] == [point.pk]
    body = api.get(f"/api/v1/operating-points/{point.pk}/").json()
    assert body["report"]["n"] == 64 and body["threshold"] == pytest.approx(point.threshold)
    plot = api.get(body["reliability_plot_url"])
    assert plot.status_code == 200 and b"".join(plot.streaming_content).startswith(b"\x89PNG")
    api = as_user(charlie)
    assert api.get(f"/api/v1/operating-points/{point.pk}/").status_code == 404
    assert api.get(body["reliability_plot_url"]).status_code == 404
    assert api.get("/api/v1/operating-points/").json() == []
    assert AuditEvent.objects.filter(
        user_id=charlie.pk, object_type="operating_point", object_id=str(point.pk), outcome="denied"
    ).exists()


def _analyse_in_process(api, clinic) -> None:
    """The batch API stores the images; the task body runs here rather than in a worker (the test
    above covers the worker)."""
    from classifier.tasks import predict

    _upload_isic(api)
    predict(list(Prediction.objects.filter(image__clinic=clinic).values_list("pk", flat=True)))
    assert Prediction.objects.filter(image__clinic=clinic, status="done").count() == len(LABELS)


def test_the_admin_action_fits_a_clinics_operating_point_and_refuses_with_too_few_outcomes(
    client, admin_user, as_user, alice, clinic_a, ranking_tiny_model, broker_url
):
    api = as_user(alice)
    _analyse_in_process(api, clinic_a)
    _record_outcomes(api, clinic_a, MELANOMAS[:10] + BENIGN[:10])
    client.force_login(admin_user)
    url = "/admin/classifier/modelversion/"
    action = {"action": "fit_operating_point", "_selected_action": [str(ranking_tiny_model.pk)]}
    form = client.post(url, action)
    assert form.status_code == 200 and b"Fit operating point" in form.content
    apply = {**action, "apply": "1", "clinic": str(clinic_a.pk), "target_sensitivity": "0.95"}
    refused = client.post(url, apply, follow=True)
    assert b"Too few confirmed outcomes: 10 melanoma and 10 benign" in refused.content
    assert not ClinicOperatingPoint.objects.exists()

    _record_outcomes(api, clinic_a, MELANOMAS[10:] + BENIGN[10:])
    fitted = client.post(url, apply, follow=True)
    point = ClinicOperatingPoint.objects.get()
    assert f"Operating point {point.pk} is now active".encode() in fitted.content
    assert (point.clinic, point.model_version, point.created_by) == (clinic_a, ranking_tiny_model, admin_user)
    assert AuditEvent.objects.filter(
        user_id=admin_user.pk, object_type="operating_point_fit", object_id=str(point.pk)
    ).exists()


def test_a_new_fit_replaces_the_active_one_and_a_non_ranking_score_is_refused(
    as_user, alice, clinic_a, ranking_tiny_model, broker_url
):
    api = as_user(alice)
    _analyse_in_process(api, clinic_a)
    _record_outcomes(api, clinic_a, LABELS)
    out = io.StringIO()
    call_command(
        "calibrate", "--model-version", ranking_tiny_model.pk, "--clinic", clinic_a.pk, "--dry-run", stdout=out
    )
    assert "Dry run: nothing stored" in out.getvalue() and not ClinicOperatingPoint.objects.exists()
    first = operating_point_fit(clinic=clinic_a, model_version=ranking_tiny_model)
    second = operating_point_fit(clinic=clinic_a, model_version=ranking_tiny_model, target_sensitivity=0.9)
    first.refresh_from_db()
    assert (first.is_active, second.is_active) == (False, True)
    assert second.threshold >= first.threshold

    # A score that falls with melanoma at this clinic: a fit would invert it, so none is made.
    Prediction.objects.filter(image__clinic=clinic_a).update(model_probability=1 - F("model_probability"))
    with pytest.raises(ApplicationError, match="does not rise with melanoma"):
        operating_point_fit(clinic=clinic_a, model_version=ranking_tiny_model)
    assert ClinicOperatingPoint.objects.get(is_active=True) == second


def test_the_minimum_number_of_melanomas_grows_with_the_target_sensitivity():
    # ⌈1 / (1 − s)⌉ melanomas before one may be missed; never fewer than 20 of each class.
    assert outcomes_needed(target_sensitivity=0.9) == (20, 20)
    assert outcomes_needed(target_sensitivity=0.95) == (20, 20)
    assert outcomes_needed(target_sensitivity=0.98) == (50, 20)
    assert outcomes_needed(target_sensitivity=0.99) == (100, 20)
