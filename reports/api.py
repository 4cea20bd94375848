"""Views translate: call one selector, render, answer. Documents are private to the user's session, like the
image files."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from portal.core.schema import ERROR_REF

from . import documents, fhir, selectors

NOT_READY = OpenApiResponse(
    ERROR_REF,
    description="`not_analysed`: the analysis is not done; `no_lesion`: the image is attached to no patient.",
)


def _document(body: bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _pdf(body: bytes, filename: str) -> HttpResponse:
    return _document(body, content_type="application/pdf", filename=filename)


class PredictionReportApi(APIView):
    @extend_schema(
        operation_id="prediction_report_pdf",
        summary="The lesion visit's report (PDF): result, model version, heatmap and signed reviews.",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 409: NOT_READY},
    )
    def get(self, request, prediction_id: int):
        visit = selectors.visit_get(user=request.user, prediction_id=prediction_id, object_type="visit_report")
        return _pdf(documents.visit_pdf(visit, user=request.user), f"naevus-visit-{visit.prediction.pk}.pdf")


class PredictionFhirApi(APIView):
    @extend_schema(
        operation_id="prediction_fhir",
        summary="The lesion visit as a FHIR R4 (4.3.0) collection Bundle around a DiagnosticReport.",
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT, 409: NOT_READY},
    )
    def get(self, request, prediction_id: int):
        visit = selectors.visit_get(user=request.user, prediction_id=prediction_id, object_type="visit_fhir")
        bundle = fhir.visit_bundle(visit, absolute=request.build_absolute_uri)
        return _document(
            bundle.model_dump_json(exclude_none=True).encode(),
            content_type="application/fhir+json",
            filename=f"naevus-visit-{visit.prediction.pk}.fhir.json",
        )


class PatientReportApi(APIView):
    @extend_schema(
        operation_id="patient_report_pdf",
        summary="The patient's report (PDF): every lesion's analysed visits with their signed reviews.",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request, patient_id: int):
        report = selectors.patient_report(user=request.user, patient_id=patient_id)
        return _pdf(documents.patient_pdf(report, user=request.user), f"naevus-patient-{report.patient.pk}.pdf")


class ReviewReferralApi(APIView):
    @extend_schema(
        operation_id="review_referral_pdf",
        summary="A referral letter (PDF) from a signed, current review that decided an urgent referral.",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            409: OpenApiResponse(
                ERROR_REF,
                description="`not_signed`, `superseded` (amended since: use the amendment) or `not_urgent_referral`.",
            ),
        },
    )
    def get(self, request, review_id: int):
        referral = selectors.referral_get(user=request.user, review_id=review_id)
        return _pdf(documents.referral_pdf(referral, user=request.user), f"naevus-referral-{referral.review.pk}.pdf")
