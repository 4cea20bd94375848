"""Views translate: parse, call one selector or service, shape the output."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.audit.models import Action
from portal.core.pagination import PageNumberPagination
from portal.core.schema import ERROR_REF
from portal.core.throttling import AtomicScopedRateThrottle

from . import selectors, services
from .jpeg import with_orientation
from .serializers import (
    HistorySerializer,
    ImageSerializer,
    ImageUploadResponseSerializer,
    ImageUploadSerializer,
    LesionSerializer,
    LesionWriteSerializer,
    OutcomeSerializer,
    OutcomeWriteSerializer,
    PatientSerializer,
    PatientWriteSerializer,
)
from .thumbnails import thumbnail_jpeg
from .validation import UPLOAD_REJECTIONS


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
        patient = services.patient_create(user=request.user, **data.validated_data)
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
        patient = services.patient_update(user=request.user, patient=patient, data=data.validated_data)
        return Response(PatientSerializer(patient).data)


class PatientHistoryApi(APIView):
    @extend_schema(responses=HistorySerializer)
    def get(self, request, patient_id: int):
        patient = selectors.patient_history(user=request.user, patient_id=patient_id)
        return Response(HistorySerializer({"patient": patient, "lesions": patient.history_lesions}).data)


class PatientLesionsApi(APIView):
    @extend_schema(responses=LesionSerializer(many=True))
    def get(self, request, patient_id: int):
        lesions = selectors.lesion_list(user=request.user, patient_id=patient_id)
        return Response(LesionSerializer(lesions, many=True).data)

    @extend_schema(request=LesionWriteSerializer, responses={201: LesionSerializer})
    def post(self, request, patient_id: int):
        patient = selectors.patient_get(user=request.user, patient_id=patient_id, audit=False, action=Action.CREATE)
        data = LesionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lesion = services.lesion_create(user=request.user, patient=patient, **data.validated_data)
        return Response(LesionSerializer(lesion).data, status=status.HTTP_201_CREATED)


class LesionDetailApi(APIView):
    @extend_schema(responses=LesionSerializer)
    def get(self, request, lesion_id: int):
        return Response(LesionSerializer(selectors.lesion_get(user=request.user, lesion_id=lesion_id)).data)

    @extend_schema(request=LesionWriteSerializer, responses=LesionSerializer)
    def patch(self, request, lesion_id: int):
        lesion = selectors.lesion_get(user=request.user, lesion_id=lesion_id, audit=False, action=Action.UPDATE)
        data = LesionWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        lesion = services.lesion_update(user=request.user, lesion=lesion, data=data.validated_data)
        return Response(LesionSerializer(lesion).data)


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
        lesion = selectors.lesion_get(user=request.user, lesion_id=lesion_id, audit=False, action=Action.CREATE)
        files = request.FILES.getlist("files")
        data = ImageUploadSerializer(data={k: v for k, v in request.data.items() if k != "files"} | {"files": files})
        data.is_valid(raise_exception=True)
        images = services.lesion_images_upload(
            user=request.user,
            lesion=lesion,
            uploads=[services.Upload(stream=f, size=f.size, name=f.name) for f in files],
            kind=data.validated_data["kind"],
            captured_at=data.validated_data.get("captured_at"),
        )
        images = [selectors.image_get(user=request.user, image_id=i.pk, audit=False) for i in images]
        return Response({"images": ImageSerializer(images, many=True).data}, status=status.HTTP_202_ACCEPTED)


class LesionOutcomesApi(APIView):
    @extend_schema(request=OutcomeWriteSerializer, responses={201: OutcomeSerializer})
    def post(self, request, lesion_id: int):
        lesion = selectors.lesion_get(user=request.user, lesion_id=lesion_id, audit=False, action=Action.CREATE)
        data = OutcomeWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.outcome_record(user=request.user, lesion=lesion, **data.validated_data)
        return Response(OutcomeSerializer(outcome).data, status=status.HTTP_201_CREATED)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request, image_id: int):
        return Response(ImageSerializer(selectors.image_get(user=request.user, image_id=image_id)).data)


def _private(response):
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


class ImageFileApi(APIView):
    # What was uploaded, stripped of metadata, in its own format: a PNG stays a PNG. A JPEG that is
    # shown turned carries its orientation (only that) for the browser to apply.
    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, image_id: int):
        image = selectors.image_get(user=request.user, image_id=image_id, object_type="image_file")
        if image.orientation == 1:
            response = FileResponse(image.file.open("rb"), content_type=image.content_type)
        else:
            with image.file.open("rb") as fh:
                body = with_orientation(fh.read(), image.orientation)
            response = HttpResponse(body, content_type=image.content_type)
        response["Content-Disposition"] = f'inline; filename="image-{image.pk}.{image.file.name.rsplit(".", 1)[-1]}"'
        return _private(response)


class ImageThumbnailApi(APIView):
    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request, image_id: int):
        image = selectors.image_get(user=request.user, image_id=image_id, object_type="image_thumbnail")
        return _private(HttpResponse(thumbnail_jpeg(image), content_type="image/jpeg"))
