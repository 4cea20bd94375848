"""Views translate: parse, call one selector or service, shape the output."""

from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.audit.models import Action

from . import selectors, services
from .jpeg import with_orientation
from .serializers import LesionSerializer, LesionWriteSerializer, OutcomeSerializer, OutcomeWriteSerializer
from .thumbnails import thumbnail_jpeg


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


class LesionOutcomesApi(APIView):
    @extend_schema(request=OutcomeWriteSerializer, responses={201: OutcomeSerializer})
    def post(self, request, lesion_id: int):
        lesion = selectors.lesion_get(user=request.user, lesion_id=lesion_id, audit=False, action=Action.CREATE)
        data = OutcomeWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.outcome_record(user=request.user, lesion=lesion, **data.validated_data)
        return Response(OutcomeSerializer(outcome).data, status=status.HTTP_201_CREATED)


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
