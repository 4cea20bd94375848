"""The PDF reports and the referral letter (issue #14 item 5), read back as text with pypdf: the facts a
clinician acts on must be in the document, not merely in the template."""

import io
import re

import pytest
from django.template.defaultfilters import floatformat
from pypdf import PdfReader

from classifier.models import DEMO_LABEL, ModelVersion, Prediction
from portal.audit.models import AuditEvent

from ..documents import INTENDED_USE, INTENDED_USE_SOURCE
from .conftest import SAMPLE

pytestmark = pytest.mark.django_db


def pdf_text(response) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    pages = PdfReader(io.BytesIO(response.content)).pages
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pages))


def compact(text: str) -> str:
    """Without any whitespace: a sha256 may wrap across lines."""
    return re.sub(r"\s", "", text)


def sign(api, prediction_id: int, **body) -> dict:
    created = api.post(f"/api/v1/predictions/{prediction_id}/reviews/", body, format="json")
    assert created.status_code == 201, created.content
    signed = api.post(f"/api/v1/reviews/{created.json()['id']}/sign/")
    assert signed.status_code == 200, signed.content
    return signed.json()


def amend(api, review_id: int, **body) -> dict:
    amended = api.post(f"/api/v1/reviews/{review_id}/amend/", body, format="json")
    assert amended.status_code == 201, amended.content
    return amended.json()


def test_a_visit_report_states_the_result_against_the_threshold_the_model_and_the_signed_reviews(
    client_for, alice, clinic_a, analysed
):
    prediction = analysed()
    version = prediction.model_version
    api = client_for(alice)
    first = sign(api, prediction.pk, assessment="malignant", management="urgent_referral", notes="Blue-white veil.")
    amendment = amend(api, first["id"], assessment="suspicious", management="excise", notes="Atypical network.")

    text = pdf_text(api.get(f"/api/v1/predictions/{prediction.pk}/report.pdf"))

    assert clinic_a.name in text and "RPT-0001" in text and "Ada Lovelace-Byron" in text
    assert f"lesion {prediction.image.lesion_id}" in text and f"image {prediction.image_id}" in text
    assert f"Melanoma probability {floatformat(prediction.melanoma_probability, 3)}" in text
    assert f"referral threshold {floatformat(prediction.threshold, 3)}" in text
    assert prediction.get_risk_category_display() in text
    assert f"{version.name} {version.version}" in text and version.sha256 in compact(text)
    assert DEMO_LABEL in text
    assert len(prediction.class_probabilities) == 4
    for name, p in prediction.class_probabilities.items():
        assert f"{name} {floatformat(p, 3)}" in text
    assert "Assessment: Malignant · Decision: Urgent referral" in text and "Blue-white veil." in text
    assert "superseded by an amendment" in text
    assert f"amending review {first['id']}" in text
    assert "Assessment: Suspicious · Decision: Excise / biopsy" in text and "Atypical network." in text
    assert INTENDED_USE in text
    assert amendment["supersedes"] == first["id"]
    assert AuditEvent.objects.filter(
        user_id=alice.pk, object_type="visit_report", object_id=str(prediction.pk), outcome="ok",
        patient_id=prediction.image.lesion.patient_id,
    ).exists()  # fmt: skip


def test_a_report_of_a_version_that_is_not_a_demo_carries_no_demo_label(client_for, alice, analysed):
    prediction = analysed()
    ModelVersion.objects.filter(pk=prediction.model_version_id).update(is_demo=False)
    text = pdf_text(client_for(alice).get(f"/api/v1/predictions/{prediction.pk}/report.pdf"))
    assert DEMO_LABEL not in text
    assert f"Melanoma probability {floatformat(prediction.melanoma_probability, 3)}" in text


def test_the_report_words_the_quality_advice_as_the_spa_does_not_as_codes(client_for, alice, analysed):
    prediction = analysed()
    Prediction.objects.filter(pk=prediction.pk).update(quality_reasons=["lesion_too_small", "blurred"])
    text = pdf_text(client_for(alice).get(f"/api/v1/predictions/{prediction.pk}/report.pdf"))
    assert "retake advised (lesion too small in the frame, blurred)" in text
    assert "lesion_too_small" not in text


def test_a_second_reader_s_report_withholds_the_first_read_as_the_worklist_does(client_for, alice, bob, analysed):
    prediction = analysed()
    sign(client_for(alice), prediction.pk, assessment="malignant", management="urgent_referral", notes="Veil.")
    text = pdf_text(client_for(bob).get(f"/api/v1/predictions/{prediction.pk}/report.pdf"))
    assert "Veil." not in text and "Malignant" not in text
    assert "1 signed read withheld from you while the second read is awaited" in text


def test_the_patient_report_has_every_analysed_visit_of_every_lesion_with_its_reviews(client_for, alice, analysed):
    first = analysed()
    second = analysed(lesion_id=first.image.lesion_id, sample=SAMPLE.with_name("ISIC_0024900.jpg"))
    api = client_for(alice)
    sign(api, second.pk, assessment="benign", management="discharge", notes="Symmetric, reassuring.")
    patient_id = first.image.lesion.patient_id

    text = pdf_text(api.get(f"/api/v1/patients/{patient_id}/report.pdf"))

    assert "Patient report" in text and "RPT-0001" in text
    for prediction in (first, second):
        assert f"analysis {prediction.pk}" in text
        assert f"Melanoma probability {floatformat(prediction.melanoma_probability, 3)}" in text
    assert "Assessment: Benign · Decision: Discharge" in text and "Symmetric, reassuring." in text
    assert "No signed review yet" in text
    assert DEMO_LABEL in text and INTENDED_USE in text
    assert AuditEvent.objects.filter(user_id=alice.pk, object_type="patient_report", patient_id=patient_id).exists()


def test_a_visit_whose_analysis_is_not_done_has_no_report_yet(client_for, alice, analysed):
    prediction = analysed(analyse=False)
    api = client_for(alice)
    for route in ("report.pdf", "fhir/"):
        response = api.get(f"/api/v1/predictions/{prediction.pk}/{route}")
        assert response.status_code == 409
        assert response.json()["code"] == "not_analysed"


def test_a_referral_letter_comes_from_a_signed_current_urgent_referral_only(client_for, alice, charlie, analysed):
    prediction = analysed()
    api = client_for(alice)

    def letter(review_id):
        return api.get(f"/api/v1/reviews/{review_id}/referral.pdf")

    draft = api.post(
        f"/api/v1/predictions/{prediction.pk}/reviews/", {"assessment": "suspicious", "management": "excise"}
    ).json()
    assert (letter(draft["id"]).status_code, letter(draft["id"]).json()["code"]) == (409, "not_signed")
    signed = api.post(f"/api/v1/reviews/{draft['id']}/sign/").json()
    refused = letter(signed["id"])
    assert refused.status_code == 409 and refused.json() == {
        "code": "not_urgent_referral",
        "message": "This review decided excise / biopsy, not an urgent referral.",
    }
    urgent = amend(api, signed["id"], assessment="malignant", management="urgent_referral", notes="Ulcerated, 7 mm.")

    text = pdf_text(letter(urgent["id"]))

    version = prediction.model_version
    assert "Urgent referral: suspected melanoma" in text
    assert "Ada Lovelace-Byron" in text and "RPT-0001" in text
    assert "assessed it as malignant and decided an urgent referral" in text and "Ulcerated, 7 mm." in text
    assert f"Melanoma probability {floatformat(prediction.melanoma_probability, 3)}" in text
    assert f"referral threshold {floatformat(prediction.threshold, 3)}" in text
    assert version.sha256 in compact(text) and DEMO_LABEL in text and INTENDED_USE in text
    assert AuditEvent.objects.filter(
        user_id=alice.pk, object_type="referral_letter", object_id=str(urgent["id"])
    ).exists()

    again = amend(api, urgent["id"], assessment="suspicious", management="excise")
    assert letter(urgent["id"]).json()["code"] == "superseded"
    assert letter(again["id"]).json()["code"] == "not_urgent_referral"
    assert client_for(charlie).get(f"/api/v1/reviews/{urgent['id']}/referral.pdf").status_code == 404


def test_the_reports_intended_use_is_the_spa_s_statement():
    source = INTENDED_USE_SOURCE.read_text()
    start = source.index("export const INTENDED_USE =")
    declaration = source[start : source.index(";\n", start)]
    assert "".join(re.findall(r"'([^']*)'", declaration)) == INTENDED_USE
