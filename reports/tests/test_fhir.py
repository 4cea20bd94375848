"""The FHIR export of a lesion visit (issue #14 item 6), parsed back with fhir.resources' R4B models (FHIR
4.3.0, the R4 line) and followed by reference, as a receiving system would."""

import pytest
from fhir.resources.R4B.bundle import Bundle

from classifier.models import DEMO_LABEL
from portal.audit.models import AuditEvent

from .test_reports import amend, sign

pytestmark = pytest.mark.django_db


def export(api, prediction) -> tuple[Bundle, dict]:
    response = api.get(f"/api/v1/predictions/{prediction.pk}/fhir/")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "collection"
    return bundle, {entry.fullUrl: entry.resource for entry in bundle.entry}


def the(resources: dict, resource_type: str) -> list:
    return [r for r in resources.values() if r.get_resource_type() == resource_type]


def test_a_reviewed_visit_exports_as_a_final_diagnostic_report_with_its_observations(client_for, alice, analysed):
    prediction = analysed()
    version = prediction.model_version
    api = client_for(alice)
    first = sign(api, prediction.pk, assessment="malignant", management="urgent_referral", notes="Veil.")
    current = amend(api, first["id"], assessment="suspicious", management="excise", notes="Atypical network.")

    bundle, resources = export(api, prediction)

    [report] = the(resources, "DiagnosticReport")
    assert report.status == "final"
    assert (
        report.subject.reference in resources and resources[report.subject.reference].identifier[0].value == "RPT-0001"
    )
    observations = [resources[ref.reference] for ref in report.result]
    by_code = {o.code.coding[0].code: o for o in observations if o.code.coding[0].code != "clinician-assessment"}
    probability, risk = by_code["melanoma-probability"], by_code["risk-category"]
    assert float(probability.valueQuantity.value) == pytest.approx(prediction.melanoma_probability, abs=1e-6)
    assert (probability.valueQuantity.system, probability.valueQuantity.code) == ("http://unitsofmeasure.org", "1")
    assert float(probability.referenceRange[0].high.value) == pytest.approx(prediction.threshold)
    classes = {c.code.text: c.valueQuantity.value for c in probability.component}
    assert set(classes) == set(prediction.class_probabilities)
    for name, p in prediction.class_probabilities.items():
        assert float(classes[name]) == pytest.approx(p, abs=1e-6)
    assert risk.valueCodeableConcept.coding[0].code == prediction.risk_category

    [read] = [o for o in observations if o.code.coding[0].code == "clinician-assessment"]
    assert read.status == "amended" and read.identifier[0].value == str(current["id"])
    assert read.valueCodeableConcept.coding[0].code == "suspicious"
    assert read.component[0].valueCodeableConcept.coding[0].code == "excise"
    assert read.note[0].text == "Atypical network." and read.performer[0].display == alice.username

    device = resources[probability.device.reference]
    assert device.identifier[0].value == version.sha256
    assert device.deviceName[0].name == f"{version.name} {version.version}"
    assert device.note[0].text.endswith(DEMO_LABEL) and DEMO_LABEL in report.conclusion

    media = {m.comment: resources[m.link.reference] for m in report.media}
    assert media["Lesion image"].content.url == f"http://testserver/api/v1/images/{prediction.image_id}/file/"
    assert media["Model heatmap"].content.url == f"http://testserver/api/v1/predictions/{prediction.pk}/heatmap/"
    assert AuditEvent.objects.filter(user_id=alice.pk, object_type="visit_fhir", object_id=str(prediction.pk)).exists()


def test_an_unread_visit_exports_as_preliminary_without_a_clinician_s_assessment(client_for, alice, analysed):
    prediction = analysed()
    _, resources = export(client_for(alice), prediction)
    [report] = the(resources, "DiagnosticReport")
    assert report.status == "preliminary" and "Not yet read by a clinician" in report.conclusion
    assert {resources[r.reference].code.coding[0].code for r in report.result} == {
        "melanoma-probability",
        "risk-category",
    }


def test_importing_the_pdf_renderer_leaves_pillow_strict_about_truncated_images():
    """WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on at import; a web worker imports it with the reports."""
    from PIL import ImageFile

    import reports.documents  # noqa: F401

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
