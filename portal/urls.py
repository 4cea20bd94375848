import json

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import include, path, re_path
from django.views.defaults import page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from classifier import api as classifier_api
from portal.accounts import api as accounts_api
from portal.accounts import oidc
from portal.core import api as core_api
from portal.core import metrics as core_metrics
from portal.records import api as records_api
from reports import api as reports_api
from triage import api as triage_api

api_v1 = [
    path("health/", core_api.HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("schema/ui/", SpectacularSwaggerView.as_view(url_name="schema"), name="schema-ui"),
    path("auth/csrf/", accounts_api.CsrfApi.as_view(), name="auth-csrf"),
    path("auth/login/", accounts_api.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", accounts_api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me/", accounts_api.MeApi.as_view(), name="auth-me"),
    path("patients/", classifier_api.PatientListApi.as_view(), name="patient-list"),
    path("patients/<int:patient_id>/", classifier_api.PatientDetailApi.as_view(), name="patient-detail"),
    path("patients/<int:patient_id>/history/", classifier_api.PatientHistoryApi.as_view(), name="patient-history"),
    path("patients/<int:patient_id>/report.pdf", reports_api.PatientReportApi.as_view(), name="patient-report"),
    path("patients/<int:patient_id>/lesions/", records_api.PatientLesionsApi.as_view(), name="patient-lesions"),
    path("lesions/<int:lesion_id>/", records_api.LesionDetailApi.as_view(), name="lesion-detail"),
    path("lesions/<int:lesion_id>/images/", classifier_api.LesionImagesApi.as_view(), name="lesion-images"),
    path("lesions/<int:lesion_id>/outcomes/", records_api.LesionOutcomesApi.as_view(), name="lesion-outcomes"),
    path("lesions/<int:lesion_id>/comparison/", triage_api.LesionComparisonApi.as_view(), name="lesion-comparison"),
    path("images/<int:image_id>/", classifier_api.ImageDetailApi.as_view(), name="image-detail"),
    path("images/<int:image_id>/file/", records_api.ImageFileApi.as_view(), name="image-file"),
    path("images/<int:image_id>/thumbnail/", records_api.ImageThumbnailApi.as_view(), name="image-thumbnail"),
    path("images/<int:image_id>/rerun/", classifier_api.ImageRerunApi.as_view(), name="image-rerun"),
    path("predictions/<int:prediction_id>/", classifier_api.PredictionDetailApi.as_view(), name="prediction-detail"),
    path(
        "predictions/<int:prediction_id>/report.pdf",
        reports_api.PredictionReportApi.as_view(),
        name="prediction-report",
    ),
    path("predictions/<int:prediction_id>/fhir/", reports_api.PredictionFhirApi.as_view(), name="prediction-fhir"),
    path(
        "predictions/<int:prediction_id>/quality/dismiss/",
        classifier_api.PredictionQualityDismissApi.as_view(),
        name="prediction-quality-dismiss",
    ),
    path(
        "predictions/<int:prediction_id>/heatmap/",
        classifier_api.PredictionHeatmapApi.as_view(),
        name="prediction-heatmap",
    ),
    path("worklist/", triage_api.WorklistApi.as_view(), name="worklist"),
    path("worklist/counts/", triage_api.WorklistCountsApi.as_view(), name="worklist-counts"),
    path("worklist/lesions/<int:lesion_id>/", triage_api.WorklistLesionApi.as_view(), name="worklist-lesion"),
    path(
        "predictions/<int:prediction_id>/reviews/",
        triage_api.PredictionReviewsApi.as_view(),
        name="prediction-reviews",
    ),
    path("reviews/<int:review_id>/", triage_api.ReviewDetailApi.as_view(), name="review-detail"),
    path("reviews/<int:review_id>/sign/", triage_api.ReviewSignApi.as_view(), name="review-sign"),
    # After sign and before amend: the access tests probe routes in this order (a signed, current review).
    path("reviews/<int:review_id>/referral.pdf", reports_api.ReviewReferralApi.as_view(), name="review-referral"),
    path("reviews/<int:review_id>/amend/", triage_api.ReviewAmendApi.as_view(), name="review-amend"),
    path("batches/", classifier_api.BatchListApi.as_view(), name="batch-list"),
    path("batches/<int:batch_id>/", classifier_api.BatchDetailApi.as_view(), name="batch-detail"),
    path("batches/<int:batch_id>/cancel/", classifier_api.BatchCancelApi.as_view(), name="batch-cancel"),
    path("batches/<int:batch_id>/retry/", classifier_api.BatchRetryApi.as_view(), name="batch-retry"),
    path("batches/<int:batch_id>/results/", classifier_api.BatchResultsApi.as_view(), name="batch-results"),
    path("batches/<int:batch_id>/results.csv", classifier_api.BatchResultsCsvApi.as_view(), name="batch-results-csv"),
    path("models/", classifier_api.ModelVersionListApi.as_view(), name="model-list"),
    path("operating-points/", classifier_api.OperatingPointListApi.as_view(), name="operating-point-list"),
    path(
        "operating-points/<int:operating_point_id>/",
        classifier_api.OperatingPointDetailApi.as_view(),
        name="operating-point-detail",
    ),
    path(
        "operating-points/<int:operating_point_id>/reliability.png",
        classifier_api.OperatingPointReliabilityApi.as_view(),
        name="operating-point-reliability",
    ),
    path("models/<int:model_version_id>/", classifier_api.ModelVersionDetailApi.as_view(), name="model-detail"),
    path(
        "models/<int:model_version_id>/activate/",
        classifier_api.ModelVersionActivateApi.as_view(),
        name="model-activate",
    ),
    path(
        "models/<int:model_version_id>/plots/<slug:name>.png",
        classifier_api.ModelVersionPlotApi.as_view(),
        name="model-plot",
    ),
]


def spa_config() -> dict:
    """What the SPA needs at run time, so that one build serves every deployment. Public values only
    (a Firebase web API key is not a secret); the emulator URL only ever with DEBUG on. `oidc`: where
    "Sign in with <providerName>" starts, while OpenID Connect is configured."""
    firebase = None
    if settings.FIREBASE_PROJECT_ID and settings.FIREBASE_WEB_API_KEY:
        firebase = {
            "apiKey": settings.FIREBASE_WEB_API_KEY,
            "authDomain": settings.FIREBASE_AUTH_DOMAIN or f"{settings.FIREBASE_PROJECT_ID}.firebaseapp.com",
            "projectId": settings.FIREBASE_PROJECT_ID,
            "emulatorUrl": f"http://{settings.FIREBASE_AUTH_EMULATOR_HOST}"
            if settings.DEBUG and settings.FIREBASE_AUTH_EMULATOR_HOST
            else None,
        }
    sso = {"providerName": settings.OIDC_PROVIDER_NAME, "loginUrl": oidc.start_path()} if oidc.is_configured() else None
    return {
        "firebase": firebase,
        "oidc": sso,
        "idleTimeoutMinutes": max(1, settings.NAEVUS_IDLE_TIMEOUT_SECONDS // 60),
    }


def spa(request, resource=""):
    """The built SPA's index.html for every client-side route (whitenoise serves its assets), with the
    run-time configuration injected as `window.__NAEVUS_CONFIG__`."""
    index = settings.FRONTEND_DIST / "index.html"
    if not index.exists():
        raise Http404("The SPA is not built; run `make frontend`.")
    config = json.dumps(spa_config()).replace("<", "\\u003c")
    html = index.read_text().replace("<head>", f"<head><script>window.__NAEVUS_CONFIG__={config};</script>", 1)
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def not_found(request, exception):
    """Unmatched URLs under /api/ (`/api/v1/patients/abc/`) answer in the API's JSON error shape."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": "Not found."}, status=404)
    return page_not_found(request, exception)


handler404 = not_found

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("metrics", core_metrics.metrics, name="metrics"),
    # Browser navigations, not API calls: to the provider and back (404 unless OIDC is configured).
    path("oidc/authenticate/", oidc.OidcStartView.as_view(), name="oidc-authenticate"),
    path("oidc/callback/", oidc.OidcCallbackView.as_view(), name="oidc-callback"),
    re_path(r"^(?!api/|admin/|static/|oidc/)(?P<resource>.*)$", spa, name="spa"),
]
