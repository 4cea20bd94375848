"""Views translate: parse, call one selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.audit.models import Action
from portal.core.pagination import PageNumberPagination

from . import selectors, services
from .serializers import (
    ComparisonQuerySerializer,
    ComparisonSerializer,
    ReviewListSerializer,
    ReviewSerializer,
    ReviewUpdateSerializer,
    ReviewWriteSerializer,
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


SORT = OpenApiParameter(
    "sort",
    str,
    enum=[choice.value for choice in selectors.WorklistSort],
    description="Queue order: risk (default) or outlier (the patient's odd one out first, then risk).",
)


def _queue_params(request) -> dict:
    query = WorklistQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {
        "kind": selectors.WorklistFilter(query.validated_data["filter"]),
        "sort": selectors.WorklistSort(query.validated_data["sort"]),
    }


class WorklistApi(GenericAPIView):
    pagination_class = PageNumberPagination
    serializer_class = WorklistItemSerializer

    @extend_schema(operation_id="worklist_list", parameters=[FILTER, SORT], responses=WorklistItemSerializer(many=True))
    def get(self, request):
        params = _queue_params(request)
        page = self.paginator.paginate_queryset(
            selectors.worklist_list(user=request.user, **params),
            request,
            view=self,
            count=selectors.worklist_total(user=request.user, kind=params["kind"]),
        )
        selectors.worklist_page_marks(page)
        return self.get_paginated_response(WorklistItemSerializer(page, many=True).data)


class WorklistCountsApi(APIView):
    @extend_schema(responses=WorklistCountsSerializer)
    def get(self, request):
        return Response(WorklistCountsSerializer(selectors.worklist_counts(user=request.user)).data)


class WorklistLesionApi(APIView):
    @extend_schema(parameters=[FILTER, SORT], responses=WorklistLesionSerializer)
    def get(self, request, lesion_id: int):
        lesion = selectors.worklist_item(user=request.user, lesion_id=lesion_id, **_queue_params(request))
        return Response(WorklistLesionSerializer(lesion).data)


class LesionComparisonApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "images",
                int,
                many=True,
                description="Two image ids of the lesion (repeat the parameter); default: its two latest visits.",
            )
        ],
        responses=ComparisonSerializer,
    )
    def get(self, request, lesion_id: int):
        query = ComparisonQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        comparison = selectors.lesion_comparison(
            user=request.user, lesion_id=lesion_id, image_ids=query.validated_data.get("images")
        )
        return Response(ComparisonSerializer(comparison).data)


class PredictionReviewsApi(APIView):
    @extend_schema(operation_id="prediction_reviews_list", responses=ReviewListSerializer)
    def get(self, request, prediction_id: int):
        return Response(
            ReviewListSerializer(selectors.review_list(user=request.user, prediction_id=prediction_id)).data
        )

    @extend_schema(
        operation_id="prediction_reviews_create", request=ReviewWriteSerializer, responses={201: ReviewSerializer}
    )
    def post(self, request, prediction_id: int):
        prediction = selectors.prediction_for_review(user=request.user, prediction_id=prediction_id)
        data = ReviewWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        consensus = data.validated_data.pop("consensus")
        review = services.review_create(
            user=request.user, prediction=prediction, data=data.validated_data, consensus=consensus
        )
        review.is_current = False
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)


class ReviewDetailApi(APIView):
    @extend_schema(responses=ReviewSerializer)
    def get(self, request, review_id: int):
        return Response(ReviewSerializer(selectors.review_get(user=request.user, review_id=review_id)).data)

    @extend_schema(request=ReviewUpdateSerializer, responses=ReviewSerializer)
    def patch(self, request, review_id: int):
        review = selectors.review_get(user=request.user, review_id=review_id, audit=False, action=Action.UPDATE)
        data = ReviewUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        review = services.review_update(user=request.user, review=review, data=data.validated_data)
        return Response(ReviewSerializer(review).data)


class ReviewSignApi(APIView):
    @extend_schema(request=None, responses=ReviewSerializer)
    def post(self, request, review_id: int):
        review = selectors.review_get(user=request.user, review_id=review_id, audit=False, action=Action.EXECUTE)
        review = services.review_sign(user=request.user, review=review)
        review.is_current = True
        return Response(ReviewSerializer(review).data)


class ReviewAmendApi(APIView):
    @extend_schema(request=ReviewWriteSerializer, responses={201: ReviewSerializer})
    def post(self, request, review_id: int):
        review = selectors.review_get(user=request.user, review_id=review_id, audit=False, action=Action.CREATE)
        data = ReviewWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        data.validated_data.pop("consensus")
        amendment = services.review_amend(user=request.user, review=review, data=data.validated_data)
        amendment.is_current = True
        return Response(ReviewSerializer(amendment).data, status=status.HTTP_201_CREATED)
