"""One error type and one JSON shape: {"code", "message", "fields"?}."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A failure a user can act on. `status` is the HTTP status the API answers with."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int = 400,
        fields: dict | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.fields = fields or {}
        self.retry_after = retry_after


class ServiceUnavailable(ApplicationError):
    def __init__(self, message: str, *, code: str = "service_unavailable"):
        super().__init__(message, code=code, status=503)


def _messages(detail, prefix: str = "") -> list[str]:
    """Every message under one field as a flat list of strings; nested positions (the second file of
    a list) become a prefix, so that `fields` is always {field: [message, ...]}, as the schema says."""
    if isinstance(detail, dict):
        return [m for key, value in detail.items() for m in _messages(value, f"{prefix}{key}: ")]
    if isinstance(detail, list):
        return [m for item in detail for m in _messages(item, prefix)]
    return [f"{prefix}{detail}"]


def exception_handler(exc, context):
    # Imported here: rest_framework.views reads the auth settings, which import this module.
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "message": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return Response(body, status=exc.status, headers=headers)
    # Django's own request limits, met while DRF parses the body: a clear 4xx in our shape, not an HTML page.
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        message = f"At most {limit} files per request; use a batch (zip) for more."
        return Response({"code": "too_many_files", "message": message, "fields": {"files": [message]}}, status=400)
    if isinstance(exc, TooManyFieldsSent):
        return Response({"code": "too_many_fields", "message": "The request has too many fields."}, status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response({"code": "request_too_large", "message": "The request body is too large."}, status=413)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: _messages(value) for name, value in detail.items()}
        first = next(iter(fields.items()), ("", [""]))
        message = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        response.data = {"code": "invalid", "message": message, "fields": fields}
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"code": str(code), "message": str(detail)}
    return response
