"""How the OpenAPI schema describes our two ways in."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class FirebaseScheme(OpenApiAuthenticationExtension):
    target_class = "portal.accounts.authentication.FirebaseAuthentication"
    name = "firebaseIdToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "Firebase ID token (JWT)"}


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "portal.accounts.authentication.CsrfSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
