"""PDF documents rendered from Django templates by WeasyPrint (maintained, CSS paged media, no browser to run;
needs Pango from the system: `make system-libs`). Pictures are embedded as data: URIs and the renderer may
fetch nothing else, so that a template can never reach the network or the file system."""

import base64
from pathlib import Path

from django.template.loader import render_to_string
from django.utils import timezone
from PIL import ImageFile
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from classifier.heatmaps import heatmap_file
from classifier.models import DEMO_LABEL
from portal.records.thumbnails import thumbnail_jpeg

from .selectors import PatientReport, Referral, Visit

# WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import: in a web worker that would let a
# truncated upload through the validator (portal/records/validation.py). It only ever draws our own embedded
# pictures, so the strict default is put back (tests: a truncated JPEG and a corrupt PNG are refused).
ImageFile.LOAD_TRUNCATED_IMAGES = False

# The SPA's statement (frontend/src/components/intended-use.tsx, also the README's first lines); a test keeps
# the two equal.
INTENDED_USE = (
    "Decision support only — not a diagnosis. The score estimates how likely a lesion image is to show melanoma; "
    "a clinician must interpret it together with the history and examination, and a low score does not rule "
    "melanoma out."
)
INTENDED_USE_SOURCE = Path(__file__).resolve().parents[1] / "frontend" / "src" / "components" / "intended-use.tsx"


def _data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def _pictures(visit: Visit, *, size: int) -> dict:
    prediction = visit.prediction
    heatmap = None
    stored = heatmap_file(prediction)  # drawn from the stored CAM on its first request, then kept
    if stored:
        with stored.open("rb") as fh:
            heatmap = _data_uri("image/png", fh.read())
    return {"image_uri": _data_uri("image/jpeg", thumbnail_jpeg(visit.image, size=size)), "heatmap_uri": heatmap}


def visit_context(visit: Visit, *, size: int = 480) -> dict:
    prediction = visit.prediction
    classes = sorted((prediction.class_probabilities or {}).items(), key=lambda item: -item[1])
    return {
        "visit": visit,
        "prediction": prediction,
        "version": prediction.model_version,
        "refer": prediction.risk_category == prediction.Risk.REFER,
        "class_probabilities": classes,
        **_pictures(visit, size=size),
    }


def _render(template: str, context: dict, *, user) -> bytes:
    html = render_to_string(
        template,
        {"intended_use": INTENDED_USE, "demo_label": DEMO_LABEL, "generated_at": timezone.now(), "user": user}
        | context,
    )
    return HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()


def visit_pdf(visit: Visit, *, user) -> bytes:
    return _render(
        "reports/visit.html",
        {"clinic": visit.patient.clinic, "patient": visit.patient} | visit_context(visit),
        user=user,
    )


def patient_pdf(report: PatientReport, *, user) -> bytes:
    lesions = [(lesion, [visit_context(v, size=240) for v in visits]) for lesion, visits in report.lesions]
    context = {"clinic": report.patient.clinic, "patient": report.patient, "lesions": lesions}
    return _render("reports/patient.html", context, user=user)


def referral_pdf(referral: Referral, *, user) -> bytes:
    visit = referral.visit
    context = {"clinic": visit.patient.clinic, "patient": visit.patient, "review": referral.review}
    return _render("reports/referral.html", context | visit_context(visit, size=320), user=user)
