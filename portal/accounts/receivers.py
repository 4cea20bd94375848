"""Sign-in signals → the audit trail. Django sends them from authenticate() and login(), whichever form
called them; django-axes sends `user_locked_out`."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from portal.audit.models import Outcome

from .services import sign_in_audit


@receiver(user_logged_in)
def audit_sign_in(sender, request, user, **kwargs):
    # Client.force_login in tests signs in with a bare request that never reached a view: no attempt to audit.
    if getattr(request, "resolver_match", None) is not None:
        sign_in_audit(request=request, user=user)


@receiver(user_login_failed)
def audit_failed_sign_in(sender, credentials, request=None, **kwargs):
    sign_in_audit(request=request, outcome=Outcome.DENIED)


@receiver(user_locked_out)
def audit_lockout(sender, request, **kwargs):
    sign_in_audit(request=request, outcome=Outcome.DENIED, lockout=True)
