"""OpenID Connect sign-in (mozilla-django-oidc: authorization code flow with PKCE, state and nonce).

A valid identity alone grants nothing, exactly as with Firebase: the provider's `sub` must belong to a
clinic member, or its verified e-mail to an open invitation. Every refusal is a failed sign-in: Django's
`user_login_failed` is sent, so django-axes counts it (by client address) and `receivers` audits it. Only
reason codes are logged, never tokens, claims or addresses."""

import logging
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .models import Membership, Role
from .services import invitation_accept, membership_role_set

logger = logging.getLogger(__name__)

# The reasons the SPA's sign-in page explains (?reason=…); anything else reads as a failed OIDC sign-in.
NOT_INVITED = "not_invited"
EMAIL_NOT_VERIFIED = "email_not_verified"
TOKEN_EXPIRED = "oidc_expired"
FAILED = "oidc_failed"
UNAVAILABLE = "oidc_unavailable"
DISABLED = "account_disabled"
_ROLE_RANK = {Role.CLINICIAN: 0, Role.CLINIC_ADMIN: 1}


class Refused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_configured() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID and settings.OIDC_OP_ISSUER)


def role_for(claims: dict) -> str | None:
    """The role OIDC_ROLE_CLAIM maps to (the highest of its mapped values; none mapped: clinician), or None
    when no role claim is configured (the invitation's role stands)."""
    if not settings.OIDC_ROLE_CLAIM:
        return None
    value = claims.get(settings.OIDC_ROLE_CLAIM)
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    roles = [settings.OIDC_ROLE_MAP[v] for v in values if isinstance(v, str) and v in settings.OIDC_ROLE_MAP]
    return max(roles, key=_ROLE_RANK.__getitem__, default=Role.CLINICIAN)


class OidcBackend(OIDCAuthenticationBackend):
    """Answers only the callback view's call (it alone passes `code_verifier`), and only when configured."""

    def authenticate(self, request, **kwargs):
        if request is None or "code_verifier" not in kwargs or not is_configured():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except Refused as refusal:
            reason = refusal.reason
        except requests.RequestException:
            reason = UNAVAILABLE
        except SuspiciousOperation:
            reason = FAILED
        # Returning None makes Django send user_login_failed: axes counts it, `receivers` audits it.
        request.naevus_oidc_refusal = reason
        logger.info("OIDC sign-in refused: %s", reason)
        return None

    def get_token(self, payload):
        try:
            return super().get_token(payload)
        except requests.HTTPError as error:
            # The provider refused the code (expired, reused, PKCE verifier wrong): not an outage.
            if error.response is not None and 400 <= error.response.status_code < 500:
                raise Refused(FAILED) from None
            raise

    def verify_token(self, token, **kwargs):
        """The ID token: signed by the provider's key (from its JWKS, the configured algorithm only), issued by
        OIDC_OP_ISSUER to this client (mozilla-django-oidc checks neither `aud` nor `iss`), not expired, and
        carrying this sign-in's nonce."""
        if not token:
            raise Refused(FAILED)
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != settings.OIDC_RP_SIGN_ALGO:
                raise Refused(FAILED)
            key = self.retrieve_matching_jwk(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=[settings.OIDC_RP_SIGN_ALGO],
                audience=settings.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER,
                leeway=settings.OIDC_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refused(TOKEN_EXPIRED) from None
        except jwt.PyJWTError:
            raise Refused(FAILED) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != settings.OIDC_RP_CLIENT_ID:
            raise Refused(FAILED)
        if settings.OIDC_USE_NONCE and claims.get("nonce") != kwargs.get("nonce"):
            raise Refused(FAILED)
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = dict(payload)
        if settings.OIDC_OP_USER_ENDPOINT:
            info = self.get_userinfo(access_token, id_token, payload)
            if not isinstance(info, dict) or info.get("sub") != payload["sub"]:
                raise Refused(FAILED)
            # The ID token wins where both speak.
            claims = {**info, **payload}
        return oidc_user(claims=claims)

    def get_user(self, user_id):
        # mozilla-django-oidc's own get_user would keep a deactivated user's session alive.
        return ModelBackend.get_user(self, user_id)


def oidc_user(*, claims: dict):
    """The member this verified identity is: by its subject, else by an open invitation to its verified e-mail
    (which creates the membership). Uninvited: Refused, and nothing is created."""
    subject = claims["sub"]
    membership = Membership.objects.select_related("user").filter(oidc_subject=subject).first()
    if membership is None:
        email = claims.get("email")
        if not email:
            raise Refused(NOT_INVITED)
        if claims.get("email_verified") is not True:
            raise Refused(EMAIL_NOT_VERIFIED)
        user = invitation_accept(email=email, oidc_subject=subject)
        if user is None:
            raise Refused(NOT_INVITED)
        membership = user.membership
    if not membership.user.is_active:
        raise Refused(DISABLED)
    role = role_for(claims)
    if role is not None:
        membership_role_set(membership=membership, role=role)
    return membership.user


def logout_url(request) -> str | None:
    """Where the browser goes to end the provider's session too (RP-initiated logout), for a session that
    signed in through OIDC while the provider has an end-session endpoint; else None (local sign-out only).
    Read before the session is flushed."""
    id_token = request.session.get("oidc_id_token")
    if not (is_configured() and settings.OIDC_OP_LOGOUT_ENDPOINT and id_token):
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri("/sign-in?reason=signed_out"),
        }
    )
    return f"{settings.OIDC_OP_LOGOUT_ENDPOINT}?{query}"


class _OnlyWhenConfigured:
    def dispatch(self, request, *args, **kwargs):
        if not is_configured():
            raise Http404("OpenID Connect sign-in is not configured.")
        return super().dispatch(request, *args, **kwargs)


class OidcStartView(_OnlyWhenConfigured, OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/?next=/path: to the provider, with state, nonce and a PKCE challenge."""


class OidcCallbackView(_OnlyWhenConfigured, OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: signed in, back to `next`; refused, to the sign-in page with the reason."""

    def get(self, request):
        try:
            return super().get(request)
        except SuspiciousOperation:
            # A state this browser never started (a replayed or forged callback).
            request.naevus_oidc_refusal = FAILED
            logger.info("OIDC sign-in refused: %s", FAILED)
            return self.login_failure()

    @property
    def failure_url(self):
        reason = getattr(self.request, "naevus_oidc_refusal", FAILED)
        return "/sign-in?" + urlencode({"reason": reason})

    def login_failure(self):
        return HttpResponseRedirect(self.failure_url)

    @property
    def success_url(self):
        # Sanitised by the start view (same host only).
        return self.request.session.get("oidc_login_next") or "/"


def start_path() -> str:
    return reverse("oidc-authenticate")
