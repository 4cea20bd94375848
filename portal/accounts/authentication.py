import logging

from firebase_admin import auth as fb_auth
from firebase_admin import exceptions as fb_exceptions
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS

from portal.core.exceptions import ServiceUnavailable

from . import firebase
from .models import Membership
from .services import invitation_accept

logger = logging.getLogger(__name__)


class CsrfSessionAuthentication(SessionAuthentication):
    """Django session with CSRF enforced on unsafe methods (DRF's own)."""


class FirebaseAuthentication(BaseAuthentication):
    """`Authorization: Bearer <Firebase ID token>`. A valid token alone grants nothing: its uid must
    belong to a clinic member, or its verified e-mail to an open invitation. Revocation is checked
    on writes (it costs a call to Firebase)."""

    keyword = b"bearer"

    def authenticate_header(self, request):
        return 'Bearer realm="naevus"'

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.", code="invalid_token")
        if not firebase.is_configured():
            raise exceptions.AuthenticationFailed("Firebase sign-in is not enabled here.", code="firebase_disabled")
        token = header[1].decode("ascii", errors="replace")
        claims = self._verify(token, check_revoked=request.method not in SAFE_METHODS)
        uid = claims.get("uid") or claims.get("sub")
        membership = Membership.objects.select_related("user", "clinic").filter(firebase_uid=uid).first()
        if membership is not None:
            user = membership.user
        else:
            email = claims.get("email")
            if not email:
                raise exceptions.PermissionDenied("No clinic has invited this account.", code="not_invited")
            if not claims.get("email_verified"):
                raise exceptions.PermissionDenied("Verify your e-mail address first.", code="email_not_verified")
            user = invitation_accept(firebase_uid=uid, email=email)
            if user is None:
                raise exceptions.PermissionDenied("No clinic has invited this account.", code="not_invited")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.", code="user_disabled")
        return (user, None)

    def _verify(self, token: str, *, check_revoked: bool) -> dict:
        try:
            return firebase.verify(token, check_revoked=check_revoked)
        except fb_auth.ExpiredIdTokenError:
            raise exceptions.AuthenticationFailed("Your sign-in has expired.", code="token_expired") from None
        except fb_auth.RevokedIdTokenError:
            raise exceptions.AuthenticationFailed("Your sign-in was revoked.", code="token_revoked") from None
        except fb_auth.UserDisabledError:
            raise exceptions.AuthenticationFailed("This account is disabled.", code="user_disabled") from None
        except fb_auth.UserNotFoundError:
            # The account was deleted after this token was issued: its sign-ins end, as on revocation.
            raise exceptions.AuthenticationFailed("Your sign-in was revoked.", code="token_revoked") from None
        except fb_auth.CertificateFetchError:
            logger.error("could not fetch Firebase public keys")
            raise ServiceUnavailable(
                "Sign-in cannot be checked right now. Try again shortly.", code="auth_keys_unavailable"
            ) from None
        except (fb_exceptions.UnavailableError, fb_exceptions.DeadlineExceededError, fb_exceptions.InternalError):
            # Only writes get here: the revocation check is a call to Firebase's user API.
            logger.error("could not reach Firebase to check token revocation")
            raise ServiceUnavailable(
                "Sign-in cannot be checked right now. Try again shortly.", code="auth_unavailable"
            ) from None
        except (fb_auth.InvalidIdTokenError, ValueError):
            raise exceptions.AuthenticationFailed("The sign-in token is not valid.", code="invalid_token") from None
