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
    login form is told apart from the API's. Ids only: a failed attempt's username is not recorded."""
    channel = "admin_login" if request is not None and request.path.startswith(reverse("admin:index")) else "login"
    audit_record(
        user=user,
        action=Action.EXECUTE,
        object_type=f"{channel}_lockout" if lockout else channel,
        object_id=getattr(user, "pk", ""),
        outcome=outcome,
    )


def session_logout(*, request) -> None:
    user = request.user
    if user.is_authenticated:
        audit_record(user=user, action=Action.EXECUTE, object_type="logout", object_id=user.pk)
    # Deletes the session row: a replayed cookie is worthless afterwards.
    logout(request)


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


def invitation_accept(*, uid: str, email: str):
    """The first verified Firebase sign-in of an invited address joins the inviting clinic."""
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
            user = User.objects.create_user(username=f"fb-{uid}"[:150], email=email, password=None)
        Membership.objects.create(user=user, clinic=invitation.clinic, role=invitation.role, firebase_uid=uid)
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    logger.info("invitation %s accepted by user %s", invitation.pk, user.pk)
    return user
