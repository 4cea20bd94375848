"""The one answer to a locked-out sign-in, whichever way in it came (django-axes' AXES_LOCKOUT_CALLABLE)."""

from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render


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
