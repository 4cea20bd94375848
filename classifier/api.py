import csv
import io

from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from portal.accounts.permissions import IsSuperuser
from portal.accounts.selectors import user_clinic
from portal.audit.models import Action
from portal.core.exceptions import ApplicationError
from portal.core.pagination import PageNumberPagination
from portal.core.schema import ERROR_REF
from portal.core.throttling import AtomicScopedRateThrottle
from portal.records import selectors as record_selectors
from portal.records import services as record_services
from portal.records.serializers import ImageUploadSerializer, PatientWriteSerializer
from portal.records.validation import UPLOAD_REJECTIONS

from . import batches, selectors, services
from .heatmaps import heatmap_file
from .inference.quality import retake_label
from .model_store import model_file_open
from .serializers import (
    BatchCreateSerializer,
    BatchResultSerializer,
    BatchSerializer,
    HistorySerializer,
    ImageSerializer,
    ImageUploadResponseSerializer,
    ModelVersionSerializer,
    OperatingPointSerializer,
    PatientSerializer,
    PredictionSerializer,
    RerunSerializer,
)


def _private(response):
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class PredictionDetailApi(APIView):
    @extend_schema(responses=PredictionSerializer)
    def get(self, request, prediction_id: int):
        return Response(
            PredictionSerializer(selectors.prediction_get(user=request.user, prediction_id=prediction_id)).data
        )


class PredictionQualityDismissApi(APIView):
    @extend_schema(
        operation_id="predictions_quality_dismiss",
        request=None,
        responses=PredictionSerializer,
        description='The clinician accepts a "retake advised" image as it is (audited). 409 when it has no advice.',
    )
    def post(self, request, prediction_id: int):
        prediction = selectors.prediction_get(
            user=request.user, prediction_id=prediction_id, audit=False, action=Action.EXECUTE
        )
        return Response(
            PredictionSerializer(services.prediction_quality_dismiss(user=request.user, prediction=prediction)).data
        )


class PredictionHeatmapApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, prediction_id: int):
        prediction = selectors.prediction_get(user=request.user, prediction_id=prediction_id, object_type="heatmap")
        heatmap = heatmap_file(prediction)
        if not heatmap:
            raise Http404()
        return _private(FileResponse(heatmap.open("rb"), content_type="image/png"))


class ImageRerunApi(APIView):
    @extend_schema(request=RerunSerializer, responses={202: PredictionSerializer})
    def post(self, request, image_id: int):
        image = record_selectors.image_get(user=request.user, image_id=image_id, audit=False, action=Action.EXECUTE)
        data = RerunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = selectors.model_version_get(model_version_id=data.validated_data["model_version"])
        prediction = services.prediction_rerun(user=request.user, image=image, model_version=version)
        return Response(PredictionSerializer(prediction).data, status=status.HTTP_202_ACCEPTED)


class BatchListApi(GenericAPIView):
    pagination_class = PageNumberPagination
    serializer_class = BatchSerializer
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "upload"

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(operation_id="batches_list", responses=BatchSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.batch_list(user=request.user))
        return self.get_paginated_response(BatchSerializer([selectors.batch_progress(b) for b in page], many=True).data)

    @extend_schema(request=BatchCreateSerializer, responses={202: BatchSerializer})
    def post(self, request):
        files = request.FILES.getlist("files")
        data = BatchCreateSerializer(data={k: v for k, v in request.data.items() if k != "files"} | {"files": files})
        data.is_valid(raise_exception=True)
        archive = data.validated_data.get("archive")
        if bool(archive) == bool(files):
            raise ApplicationError(
                "Send either one zip archive or image files.",
                code="no_files",
                fields={"archive": ["Send a zip or files."]},
            )
        mapping = None
        if data.validated_data.get("mapping"):
            mapping = batches.parse_mapping(data.validated_data["mapping"].read(5 * 1024 * 1024))
        total, members = batches.batch_members(archive=archive, files=[(f.name, f.read) for f in files])
        batch = batches.batch_create(
            user=request.user,
            clinic=user_clinic(user=request.user),
            members=members,
            total=total,
            name=data.validated_data.get("name", ""),
            mapping=mapping,
            create_missing=data.validated_data["create_missing"],
        )
        batch = selectors.batch_get(user=request.user, batch_id=batch.pk, audit=False)
        return Response(BatchSerializer(batch).data, status=status.HTTP_202_ACCEPTED)


class BatchDetailApi(APIView):
    @extend_schema(responses=BatchSerializer)
    def get(self, request, batch_id: int):
        return Response(BatchSerializer(selectors.batch_get(user=request.user, batch_id=batch_id)).data)


class BatchCancelApi(APIView):
    @extend_schema(request=None, responses=BatchSerializer)
    def post(self, request, batch_id: int):
        batch = selectors.batch_get(user=request.user, batch_id=batch_id, audit=False, action=Action.EXECUTE)
        services.batch_cancel(user=request.user, batch=batch)
        return Response(BatchSerializer(selectors.batch_get(user=request.user, batch_id=batch_id, audit=False)).data)


class BatchRetryApi(APIView):
    @extend_schema(request=None, responses=BatchSerializer)
    def post(self, request, batch_id: int):
        batch = selectors.batch_get(user=request.user, batch_id=batch_id, audit=False, action=Action.EXECUTE)
        services.batch_retry(user=request.user, batch=batch)
        return Response(BatchSerializer(selectors.batch_get(user=request.user, batch_id=batch_id, audit=False)).data)


def _result_rows(request, batch_id):
    batch = selectors.batch_get(user=request.user, batch_id=batch_id, audit=False)
    rows = selectors.batch_results(user=request.user, batch=batch)
    for row in rows:
        row["thumbnail_url"] = reverse("image-thumbnail", args=[row["image_id"]]) if row["image_id"] else None
        row["heatmap_url"] = (
            reverse("prediction-heatmap", args=[row["prediction_id"]]) if row.pop("has_heatmap") else None
        )
        row["quality_label"] = retake_label(row["quality_reasons"]) or None
    return rows


class BatchResultsApi(GenericAPIView):
    pagination_class = PageNumberPagination
    serializer_class = BatchResultSerializer

    @extend_schema(operation_id="batches_results_list", responses=BatchResultSerializer(many=True))
    def get(self, request, batch_id: int):
        page = self.paginate_queryset(_result_rows(request, batch_id))
        return self.get_paginated_response(BatchResultSerializer(page, many=True).data)


class BatchResultsCsvApi(APIView):
    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request, batch_id: int):
        rows = _result_rows(request, batch_id)
        out = io.StringIO()
        fields = [
            "file_name",
            "image_id",
            "patient_id",
            "lesion_id",
            "status",
            "melanoma_probability",
            "risk_category",
            "quality",
            "error",
        ]
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            # Spreadsheet formula injection: a file name is user input.
            row["file_name"] = "'" + row["file_name"] if row["file_name"][:1] in "=+-@\t\r" else row["file_name"]
            row["quality"] = (row["quality_label"] or "") + (" — dismissed" if row["quality_dismissed"] else "")
            writer.writerow(row)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="batch-{batch_id}-results.csv"'
        return response


class ModelVersionListApi(APIView):
    @extend_schema(responses=ModelVersionSerializer(many=True))
    def get(self, request):
        return Response(ModelVersionSerializer(selectors.model_version_list(), many=True).data)


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionSerializer)
    def get(self, request, model_version_id: int):
        return Response(ModelVersionSerializer(selectors.model_version_get(model_version_id=model_version_id)).data)


class ModelVersionActivateApi(APIView):
    permission_classes = [IsSuperuser]

    @extend_schema(request=None, responses=ModelVersionSerializer)
    def post(self, request, model_version_id: int):
        version = selectors.model_version_get(model_version_id=model_version_id)
        services.model_version_activate(model_version=version, user=request.user)
        return Response(ModelVersionSerializer(version).data)


class ModelVersionPlotApi(APIView):
    @extend_schema(responses={(200, "image/png"): bytes})
    def get(self, request, model_version_id: int, name: str):
        version = selectors.model_version_get(model_version_id=model_version_id)
        file_name = (version.plots or {}).get(name)
        if not file_name:
            raise Http404()
        try:
            return FileResponse(model_file_open(version, file_name), content_type="image/png")
        except FileNotFoundError:
            raise Http404() from None


class OperatingPointListApi(APIView):
    @extend_schema(
        operation_id="operating_points_list",
        parameters=[OpenApiParameter("model_version", int, required=False)],
        responses=OperatingPointSerializer(many=True),
    )
    def get(self, request):
        try:
            model_version_id = (
                int(request.query_params["model_version"]) if "model_version" in request.query_params else None
            )
        except ValueError as exc:
            raise ApplicationError(
                "model_version must be an id.", code="invalid", fields={"model_version": ["An integer id."]}
            ) from exc
        points = selectors.operating_point_list(user=request.user, model_version_id=model_version_id)
        return Response(OperatingPointSerializer(points, many=True).data)


class OperatingPointDetailApi(APIView):
    @extend_schema(responses=OperatingPointSerializer)
    def get(self, request, operating_point_id: int):
        point = selectors.operating_point_get(user=request.user, operating_point_id=operating_point_id)
        return Response(OperatingPointSerializer(point).data)


class OperatingPointReliabilityApi(APIView):
    @extend_schema(operation_id="operating_points_reliability_retrieve", responses={(200, "image/png"): bytes})
    def get(self, request, operating_point_id: int):
        point = selectors.operating_point_get(
            user=request.user, operating_point_id=operating_point_id, object_type="operating_point_plot"
        )
        if not point.reliability_plot:
            raise Http404()
        return _private(FileResponse(point.reliability_plot.open("rb"), content_type="image/png"))


# The records as the clinician reads them: patients with their highest current risk, images with their
# predictions, and the upload that answers with them. Records' own views (lesions, outcomes, image files)
# are in portal/records/api.py; records import nothing from here.


class PatientListApi(GenericAPIView):
    pagination_class = PageNumberPagination
    serializer_class = PatientSerializer

    @extend_schema(
        operation_id="patients_list",
        parameters=[OpenApiParameter("search", str, description="Matches MRN or name.")],
        responses=PatientSerializer(many=True),
    )
    def get(self, request):
        qs = selectors.patient_list(user=request.user, search=request.query_params.get("search", "").strip())
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PatientSerializer(page, many=True).data)

    @extend_schema(request=PatientWriteSerializer, responses={201: PatientSerializer})
    def post(self, request):
        data = PatientWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient = record_services.patient_create(user=request.user, **data.validated_data)
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailApi(APIView):
    @extend_schema(responses=PatientSerializer)
    def get(self, request, patient_id: int):
        patient = selectors.patient_get(user=request.user, patient_id=patient_id)
        return Response(PatientSerializer(patient).data)

    @extend_schema(request=PatientWriteSerializer, responses=PatientSerializer)
    def patch(self, request, patient_id: int):
        patient = selectors.patient_get(user=request.user, patient_id=patient_id, audit=False, action=Action.UPDATE)
        data = PatientWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        patient = record_services.patient_update(user=request.user, patient=patient, data=data.validated_data)
        return Response(PatientSerializer(patient).data)


class PatientHistoryApi(APIView):
    @extend_schema(responses=HistorySerializer)
    def get(self, request, patient_id: int):
        patient = selectors.patient_history(user=request.user, patient_id=patient_id)
        return Response(HistorySerializer({"patient": patient, "lesions": patient.history_lesions}).data)


class LesionImagesApi(APIView):
    parser_classes = [MultiPartParser]
    throttle_classes = [AtomicScopedRateThrottle]
    throttle_scope = "upload"

    @extend_schema(
        request=ImageUploadSerializer,
        responses={
            202: ImageUploadResponseSerializer,
            400: OpenApiResponse(
                ERROR_REF,
                description="All or nothing: the first refused file refuses the request; `fields.files` carries "
                f"the reason. `code`: {', '.join(f'`{c}`' for c in UPLOAD_REJECTIONS)}; `invalid` for a bad "
                "`kind` or `captured_at`.",
            ),
        },
    )
    def post(self, request, lesion_id: int):
        lesion = record_selectors.lesion_get(user=request.user, lesion_id=lesion_id, audit=False, action=Action.CREATE)
        files = request.FILES.getlist("files")
        data = ImageUploadSerializer(data={k: v for k, v in request.data.items() if k != "files"} | {"files": files})
        data.is_valid(raise_exception=True)
        images = record_services.lesion_images_upload(
            user=request.user,
            lesion=lesion,
            uploads=[record_services.Upload(stream=f, size=f.size, name=f.name) for f in files],
            kind=data.validated_data["kind"],
            captured_at=data.validated_data.get("captured_at"),
        )
        images = [selectors.image_get(user=request.user, image_id=i.pk, audit=False) for i in images]
        return Response({"images": ImageSerializer(images, many=True).data}, status=status.HTTP_202_ACCEPTED)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request, image_id: int):
        return Response(ImageSerializer(selectors.image_get(user=request.user, image_id=image_id)).data)
