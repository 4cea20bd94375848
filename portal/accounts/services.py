import logging

from django.contrib.auth import authenticate, get_user_model, login, logout
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError

from .models import Clinic, Invitation, Membership, Role

logger = logging.getLogger(__name__)


def session_login(*, request, username: str, password: str):
    """Password sign-in. django-axes counts the failures and answers a locked-out client (its
    middleware replaces this error with the lock-out response); `receivers` audits every attempt."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ApplicationError("Wrong username or password.", code="invalid_credentials", status=400)
    login(request, user)
    return user


def sign_in_audit(*, request, user=None, outcome: Outcome = Outcome.OK, lockout: bool = False) -> None:
    """One audit row per sign-in attempt (and one more when it locks a client out); the admin's own
    login form and the OpenID Connect callback are told apart from the API's. Ids only: a failed attempt's
    username is not recorded."""
    path = request.path if request is not None else ""
    if path.startswith(reverse("admin:index")):
        channel = "admin_login"
    elif path == reverse("oidc-callback"):
        channel = "oidc_login"
    else:
        channel = "login"
    audit_record(
        user=user,
        action=Action.EXECUTE,
        object_type=f"{channel}_lockout" if lockout else channel,
        object_id=getattr(user, "pk", ""),
        outcome=outcome,
    )


def session_logout(*, request) -> str | None:
    """Ends the session; returns where the browser should go to end the OpenID Connect provider's session
    as well (RP-initiated logout), or None when there is none to end."""
    from .oidc import logout_url

    user = request.user
    if user.is_authenticated:
        audit_record(user=user, action=Action.EXECUTE, object_type="logout", object_id=user.pk)
    provider_logout = logout_url(request)
    # Deletes the session row: a replayed cookie is worthless afterwards.
    logout(request)
    return provider_logout


def clinician_create(
    *,
    clinic: Clinic,
    username: str,
    password: str | None,
    email: str = "",
    role: str = Role.CLINICIAN,
    first_name: str = "",
    last_name: str = "",
    firebase_uid: str | None = None,
):
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.create_user(
            username=username, password=password, email=email, first_name=first_name, last_name=last_name
        )
        Membership.objects.create(user=user, clinic=clinic, role=role, firebase_uid=firebase_uid)
    return user


def invitation_accept(*, email: str, firebase_uid: str | None = None, oidc_subject: str | None = None):
    """The first verified Firebase or OpenID Connect sign-in of an invited address joins the inviting
    clinic; without an open invitation nothing is created (None)."""
    if (firebase_uid is None) == (oidc_subject is None):
        raise ValueError("one identity: a Firebase uid or an OpenID Connect subject")
    User = get_user_model()
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(email__iexact=email, accepted_at__isnull=True)
            .order_by("-created_at")
            .first()
        )
        if invitation is None:
            return None
        user = User.objects.filter(email__iexact=email, membership__isnull=True).first()
        if user is None:
            username = f"fb-{firebase_uid}" if firebase_uid is not None else f"oidc-{oidc_subject}"
            user = User.objects.create_user(username=username[:150], email=email, password=None)
        Membership.objects.create(
            user=user,
            clinic=invitation.clinic,
            role=invitation.role,
            firebase_uid=firebase_uid,
            oidc_subject=oidc_subject,
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    logger.info("invitation %s accepted by user %s", invitation.pk, user.pk)
    return user


def membership_role_set(*, membership: Membership, role: str) -> None:
    """The role an identity provider's claim maps to (OIDC_ROLE_CLAIM); never the clinic."""
    if membership.role == role:
        return
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(user=membership.user, action=Action.UPDATE, object_type="membership_role", object_id=membership.pk)
    logger.info("membership %s role %s -> %s from the identity provider", membership.pk, previous, role)
