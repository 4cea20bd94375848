from functools import partial

from django.core.paginator import Paginator
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class _CountedPaginator(Paginator):
    """Django's, with the total given instead of counted (a figure the caller already has, e.g. cached)."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's, except that a `page` or `page_size` that is not a whole number in range is a 400
    naming the parameter (DRF silently falls back to the default size), and the schema says so."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def _bounded(self, request, name: str, maximum: int | None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1 or (maximum is not None and value > maximum):
            limit = f"from 1 to {maximum}" if maximum is not None else "of 1 or more"
            raise ValidationError({name: [f"A whole number {limit}."]})
        return value

    def get_page_size(self, request):
        return self._bounded(request, self.page_size_query_param, self.max_page_size) or self.page_size

    def paginate_queryset(self, queryset, request, view=None, *, count: int | None = None):
        """`count`: the queryset's size when the caller knows it (no COUNT query then)."""
        self._bounded(request, self.page_query_param, None)
        if count is None:
            return super().paginate_queryset(queryset, request, view)
        self.django_paginator_class = partial(_CountedPaginator, count=count)
        try:
            return super().paginate_queryset(queryset, request, view)
        finally:
            del self.django_paginator_class

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters
