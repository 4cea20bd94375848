"""Who is asking: the client address every counter and the audit trail use."""

import ipaddress

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    """The address DRF's throttles count (X-Forwarded-For read only as far as NUM_PROXIES trusted proxies
    vouch for it), so django-axes' lock-out (AXES_CLIENT_IP_CALLABLE) and the audit trail agree with them."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        # A proxy that wrote something other than an address: the connection's own is all we know.
        return request.META.get("REMOTE_ADDR")
