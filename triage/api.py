"""Views translate: parse, call one selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.core.pagination import PageNumberPagination

from . import selectors
from .serializers import (
    WorklistCountsSerializer,
    WorklistItemSerializer,
    WorklistLesionSerializer,
    WorklistQuerySerializer,
)

FILTER = OpenApiParameter(
    "filter",
    str,
    enum=[choice.value for choice in selectors.WorklistFilter],
    description="Which queue (default unreviewed).",
)


def _kind(request) -> selectors.WorklistFilter:
    query = WorklistQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return selectors.WorklistFilter(query.validated_data["filter"])


class WorklistApi(GenericAPIView):
    pagination_class = PageNumberPagination
    serializer_class = WorklistItemSerializer

    @extend_schema(operation_id="worklist_list", parameters=[FILTER], responses=WorklistItemSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.worklist_list(user=request.user, kind=_kind(request)))
        return self.get_paginated_response(WorklistItemSerializer(page, many=True).data)


class WorklistCountsApi(APIView):
    @extend_schema(responses=WorklistCountsSerializer)
    def get(self, request):
        return Response(WorklistCountsSerializer(selectors.worklist_counts(user=request.user)).data)


class WorklistLesionApi(APIView):
    @extend_schema(parameters=[FILTER], responses=WorklistLesionSerializer)
    def get(self, request, lesion_id: int):
        lesion = selectors.worklist_item(user=request.user, lesion_id=lesion_id, kind=_kind(request))
        return Response(WorklistLesionSerializer(lesion).data)
