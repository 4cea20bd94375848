"""The error responses every operation can give, in the schema: the one JSON shape of
`portal.core.exceptions`, under each status an operation can actually answer with."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "Stable, snake_case; what a client branches on."},
        "message": {"type": "string", "description": "For a person."},
        "fields": {
            "type": "object",
            "description": "Validation errors only: the messages for each field in error.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["code", "message"],
}

ERROR_REF = {"$ref": "#/components/schemas/Error"}

DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each field in error.",
    "401": "Not signed in, or the token is invalid or expired.",
    "403": "Signed in but not allowed: not invited to a clinic, not a superuser, or a session write without CSRF.",
    "404": "Not found, or not in your clinic.",
    "413": "The request body is over the size limit (Django's DATA_UPLOAD_MAX_MEMORY_SIZE or the upload limit).",
    "429": "Throttled or locked out; the `Retry-After` header says when to try again.",
    "503": "The sign-in keys cannot be fetched to check a token, or (uploads) the server is busy decoding other "
    "images; `Retry-After` says when to try again.",
}


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        component = ResolvedComponent(name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA)
        self.registry.register_on_missing(component)
        for code in self._error_statuses():
            if code not in responses:
                responses[code] = {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
        return responses

    def _error_statuses(self) -> list[str]:
        view = self.view
        paginated = self.method == "GET" and getattr(view, "pagination_class", None) is not None
        codes = []
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        # A declared query parameter is validated by the view, which refuses a malformed value with a 400.
        queried = any(getattr(p, "location", None) == "query" for p in self.get_override_parameters())
        if has_body or paginated or queried:
            codes.append("400")
        if view.authentication_classes:
            # An authenticator refuses a bad token even on a public route; CSRF refuses session writes.
            codes += ["401", "403"]
        if "{" in self.path or paginated:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("413")
        if view.get_throttles():
            codes.append("429")
        if view.authentication_classes:
            codes.append("503")
        return codes
