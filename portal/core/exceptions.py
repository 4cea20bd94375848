"""One error type and one JSON shape: {"code", "message", "fields"?}."""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A failure a user can act on. `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, code: str = "error", status: int = 400, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.fields = fields or {}


class ServiceUnavailable(ApplicationError):
    def __init__(self, message: str, *, code: str = "service_unavailable"):
        super().__init__(message, code=code, status=503)


def _flatten(detail):
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        out = []
        for item in detail:
            flat = _flatten(item)
            out.extend(flat if isinstance(flat, list) else [flat])
        return out
    return [str(detail)]


def exception_handler(exc, context):
    # Imported here: rest_framework.views reads the auth settings, which import this module.
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "message": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
        return Response(body, status=exc.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        first = next(iter(fields.items()), ("", [""]))
        message = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        response.data = {"code": "invalid", "message": message, "fields": fields}
    else:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"code": str(code), "message": str(detail)}
    return response
