from rest_framework import pagination
from rest_framework.exceptions import ValidationError


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

    def paginate_queryset(self, queryset, request, view=None):
        self._bounded(request, self.page_query_param, None)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters
