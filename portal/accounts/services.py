import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.db import transaction
from django.utils import timezone

from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError

from .models import Clinic, Invitation, LoginThrottle, Membership, Role

logger = logging.getLogger(__name__)


def session_login(*, request, username: str, password: str):
    """Password sign-in with a lock-out after repeated failures."""
    now = timezone.now()
    throttle, _ = LoginThrottle.objects.get_or_create(username=username[:150])
    if throttle.locked_until and throttle.locked_until > now:
        retry = int((throttle.locked_until - now).total_seconds()) + 1
        raise ApplicationError(
            f"Too many failed sign-ins. Try again in {max(1, retry // 60)} minute(s).",
            code="account_locked",
            status=429,
            fields={"retry_after": [str(retry)]},
            retry_after=retry,
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        with transaction.atomic():
            throttle = LoginThrottle.objects.select_for_update().get(pk=throttle.pk)
            throttle.failures += 1
            if throttle.failures >= settings.NAEVUS_LOCKOUT_FAILURES:
                throttle.locked_until = now + timedelta(seconds=settings.NAEVUS_LOCKOUT_SECONDS)
                throttle.failures = 0
                logger.warning("sign-in locked out after repeated failures")
            throttle.save()
        audit_record(user=None, action=Action.EXECUTE, object_type="login", outcome=Outcome.DENIED)
        raise ApplicationError("Wrong username or password.", code="invalid_credentials", status=400)
    LoginThrottle.objects.filter(pk=throttle.pk).update(failures=0, locked_until=None)
    login(request, user)
    audit_record(user=user, action=Action.EXECUTE, object_type="login", object_id=user.pk)
    return user


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
