"""A lesion visit as a FHIR R4 Bundle, built and validated with `fhir.resources` (maintained pydantic models of
every FHIR resource). The models used are its `R4B` package, FHIR 4.3.0: the R4 line's current release, whose
resources used here (Patient, BodyStructure, Device, Media, Observation, DiagnosticReport, Bundle) are those of
R4 4.0.1; fhir.resources 8 has no plain-R4 package any more (its default is R5, which dropped Media).

One collection Bundle: the Patient, the lesion (BodyStructure), the model version (Device, its sha256 as an
identifier), the image and its heatmap (Media, by URL: the API's authenticated file routes), the melanoma
probability (valueQuantity, the threshold as its reference range, the class probabilities as components), the
risk category, one Observation per current signed read (an amendment as `amended`), and the DiagnosticReport
that ties them together: `final` once a clinician has signed a read, `preliminary` before."""

import uuid

from django.template.defaultfilters import floatformat
from django.urls import reverse
from fhir.resources.R4B.bundle import Bundle

from classifier.heatmaps import heatmap_available
from classifier.models import DEMO_LABEL

from .selectors import Visit

NAMESPACE = uuid.UUID("0f0d8a52-5a3c-4f4e-9f59-6e6165767573")
UCUM = "http://unitsofmeasure.org"
SYSTEM = "urn:naevus"
GENDER = {"female": "female", "male": "male", "other": "other"}


def _urn(kind: str, pk) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'naevus:{kind}:{pk}')}"


def _ref(kind: str, pk) -> dict:
    return {"reference": _urn(kind, pk)}


def _concept(vocabulary: str, code: str, display: str) -> dict:
    return {"coding": [{"system": f"{SYSTEM}:{vocabulary}", "code": code, "display": display}], "text": display}


def _probability(value: float) -> dict:
    return {"value": round(float(value), 6), "unit": "probability", "system": UCUM, "code": "1"}


def _instant(value) -> str | None:
    return value.isoformat() if value else None


def _reader(review) -> dict:
    reader = review.reader
    return {
        "display": reader.get_full_name() or reader.username,
        "identifier": {"value": reader.email or reader.username},
    }


def visit_bundle(visit: Visit, *, absolute) -> Bundle:
    """`absolute` turns a path into the URL a client fetches it from (request.build_absolute_uri)."""
    prediction, image, lesion, patient = visit.prediction, visit.image, visit.lesion, visit.patient
    version = prediction.model_version
    clinic = patient.clinic
    subject = _ref("patient", patient.pk)
    focus = [_ref("lesion", lesion.pk)]
    taken = image.captured_at or image.uploaded_at
    demo_note = [{"text": f"Model version {version.name} {version.version}: {DEMO_LABEL}"}] if version.is_demo else []

    resources: list[tuple[str, dict]] = []

    def add(kind: str, pk, resource: dict) -> None:
        resources.append((_urn(kind, pk), resource))

    patient_resource = {
        "resourceType": "Patient",
        "identifier": [{"system": f"{SYSTEM}:clinic:{clinic.pk}:mrn", "value": patient.mrn}],
        "name": [{"text": patient.name}],
        "gender": GENDER.get(patient.sex, "unknown"),
        "managingOrganization": {"display": clinic.name},
    }
    if patient.birth_year:
        patient_resource["birthDate"] = str(patient.birth_year)
    add("patient", patient.pk, patient_resource)
    add("lesion", lesion.pk, {
        "resourceType": "BodyStructure",
        "identifier": [{"system": f"{SYSTEM}:lesion", "value": str(lesion.pk)}],
        "morphology": {"text": "Pigmented skin lesion"},
        "location": _concept("anatomic-site", lesion.anatomic_site, lesion.get_anatomic_site_display()),
        "description": lesion.label or None,
        "patient": subject,
    })  # fmt: skip
    add("model", version.pk, {
        "resourceType": "Device",
        "identifier": [{"system": f"{SYSTEM}:model-sha256", "value": version.sha256}],
        "deviceName": [{"name": f"{version.name} {version.version}", "type": "model-name"}],
        "type": {"text": "Melanoma decision-support classifier (software)"},
        "version": [{"value": version.version}],
        "note": demo_note or None,
    })  # fmt: skip
    add("image", image.pk, {
        "resourceType": "Media",
        "identifier": [{"system": f"{SYSTEM}:image", "value": str(image.pk)}],
        "status": "completed",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/media-type", "code": "image"}]},
        "modality": {"text": image.get_kind_display()},
        "subject": subject,
        "createdDateTime": _instant(taken),
        "bodySite": {"text": lesion.get_anatomic_site_display()},
        "content": {
            "contentType": image.content_type,
            "url": absolute(reverse("image-file", args=[image.pk])),
            "title": f"Lesion image {image.pk}",
        },
    })  # fmt: skip
    media = [{"comment": "Lesion image", "link": _ref("image", image.pk)}]
    if heatmap_available(prediction):
        add("heatmap", prediction.pk, {
            "resourceType": "Media",
            "status": "completed",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/media-type", "code": "image"}]},
            "subject": subject,
            "partOf": [_ref("image", image.pk)],
            "device": _ref("model", version.pk),
            "content": {
                "contentType": "image/png",
                "url": absolute(reverse("prediction-heatmap", args=[prediction.pk])),
                "title": f"Heatmap of analysis {prediction.pk}",
            },
        })  # fmt: skip
        media.append({"comment": "Model heatmap", "link": _ref("heatmap", prediction.pk)})

    def observation(code: str, display: str, text: str, **fields) -> dict:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": f"{SYSTEM}:observation", "code": code, "display": display}], "text": text},
            "subject": subject,
            "focus": focus,
        } | fields

    classes = sorted((prediction.class_probabilities or {}).items(), key=lambda item: -item[1])
    add("probability", prediction.pk, observation(
        "melanoma-probability", "Melanoma probability (calibrated)", "Melanoma probability",
        effectiveDateTime=_instant(taken),
        issued=_instant(prediction.finished_at),
        device=_ref("model", version.pk),
        valueQuantity=_probability(prediction.melanoma_probability),
        referenceRange=[{
            "high": _probability(prediction.threshold),
            "text": "Referral threshold: at or above it, refer"
            + (f" (the clinic's operating point {prediction.operating_point_id})" if prediction.operating_point_id
               else " (the model version's threshold)"),
        }],
        component=[
            {"code": {"coding": [{"system": f"{SYSTEM}:class", "code": name}], "text": name},
             "valueQuantity": _probability(p)}
            for name, p in classes
        ] or None,
        derivedFrom=[_ref("image", image.pk)],
        note=demo_note or None,
    ))  # fmt: skip
    add("risk", prediction.pk, observation(
        "risk-category", "Melanoma risk category", "Risk category",
        effectiveDateTime=_instant(taken),
        device=_ref("model", version.pk),
        valueCodeableConcept=_concept("risk-category", prediction.risk_category,
                                      prediction.get_risk_category_display()),
        derivedFrom=[_ref("probability", prediction.pk)],
    ))  # fmt: skip
    results = [_ref("probability", prediction.pk), _ref("risk", prediction.pk)]
    for review in visit.current_reviews:
        components = [{
            "code": {"text": "Management decision"},
            "valueCodeableConcept": _concept("management", review.management, review.get_management_display()),
        }]  # fmt: skip
        if review.follow_up_date:
            components.append({"code": {"text": "Follow-up date"}, "valueDateTime": review.follow_up_date.isoformat()})
        add("review", review.pk, observation(
            "clinician-assessment", "Clinician's assessment",
            f"Clinician's assessment ({review.get_kind_display().lower()})",
            identifier=[{"system": f"{SYSTEM}:review", "value": str(review.pk)}],
            status="amended" if review.supersedes_id else "final",
            issued=_instant(review.signed_at),
            performer=[_reader(review)],
            valueCodeableConcept=_concept("assessment", review.assessment, review.get_assessment_display()),
            component=components,
            note=[{"text": review.notes}] if review.notes else None,
            derivedFrom=[_ref("image", image.pk), _ref("probability", prediction.pk)],
        ))  # fmt: skip
        results.append(_ref("review", review.pk))

    verdict = (
        f"{prediction.get_risk_category_display()}: "
        f"melanoma probability {floatformat(prediction.melanoma_probability, 3)} "
        f"against the threshold {floatformat(prediction.threshold, 3)} (model {version.name} {version.version}"
        + (f", {DEMO_LABEL}" if version.is_demo else "")
        + ")."
    )
    reads = "; ".join(
        f"{r.get_kind_display()}: {r.get_assessment_display()}, {r.get_management_display().lower()}"
        for r in visit.current_reviews
    )
    issued = [t for t in [prediction.finished_at, *(r.signed_at for r in visit.current_reviews)] if t]
    report = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": f"{SYSTEM}:analysis", "value": str(prediction.pk)}],
        "status": "final" if visit.current_reviews else "preliminary",
        "code": {"coding": [{"system": f"{SYSTEM}:report", "code": "lesion-visit",
                             "display": "Melanoma triage of a lesion visit"}], "text": "Melanoma triage"},
        "subject": subject,
        "effectiveDateTime": _instant(taken),
        "issued": _instant(max(issued, default=None)),
        "performer": [{"display": clinic.name}],
        "resultsInterpreter": [_reader(r) for r in visit.current_reviews] or None,
        "result": results,
        "media": media,
        "conclusion": f"{verdict} {reads}." if reads else f"{verdict} Not yet read by a clinician.",
    }  # fmt: skip
    resources.insert(0, (_urn("report", prediction.pk), report))
    return Bundle.model_validate({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(prediction.finished_at),
        "entry": [{"fullUrl": url, "resource": _clean(resource)} for url, resource in resources],
    })  # fmt: skip


def _clean(resource: dict) -> dict:
    """Drops the None fields (FHIR has no nulls)."""
    return {key: value for key, value in resource.items() if value is not None}
