"""The one answer to a locked-out sign-in, whichever way in it came (django-axes' AXES_LOCKOUT_CALLABLE)."""

from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render


def lockout_parameters(request, credentials=None):
    """AXES_LOCKOUT_PARAMETERS: per account and per address, either one locks. An OpenID Connect callback
    names no account (the provider checked the password), so it counts by address alone; counting it under
    an empty username would lock every OIDC sign-in everywhere after a few failures anywhere."""
    # Where axes passes no credentials it reads the username from the form, as here (axes.helpers).
    source = credentials if credentials is not None else getattr(request, "POST", {})
    return ["username", "ip_address"] if source.get("username") else ["ip_address"]


def lockout_response(request, original_response=None, credentials=None):
    # Attempts made while locked restart the cool-off (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
    # so the whole cool-off is exactly how long this client must wait.
    retry_after = int(get_cool_off(request).total_seconds())
    message = f"Too many failed sign-ins. Try again in {max(1, retry_after // 60)} minute(s)."
    if request.path.startswith("/api/"):
        body = {"code": "account_locked", "message": message, "fields": {"retry_after": [str(retry_after)]}}
        response = JsonResponse(body, status=429)
    else:
        response = render(request, "accounts/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response
