"""Start-up checks: refuse to run with the Firebase emulator honoured outside DEBUG, or with an OpenID Connect
role mapping to roles that do not exist."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def firebase_emulator_only_in_debug(app_configs, **kwargs):
    if settings.FIREBASE_AUTH_EMULATOR_HOST and not settings.DEBUG:
        return [
            checks.Critical(
                "FIREBASE_AUTH_EMULATOR_HOST is set while DEBUG is off.",
                hint="The emulator accepts unsigned tokens; unset it outside development.",
                id="naevus.E001",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=False)
def oidc_role_map_names_roles(app_configs, **kwargs):
    from portal.accounts.models import Role

    unknown = sorted({role for role in settings.OIDC_ROLE_MAP.values() if role not in Role.values})
    if unknown:
        return [
            checks.Critical(
                f"OIDC_ROLE_MAP maps to unknown roles: {', '.join(unknown)}.",
                hint=f"Roles are {', '.join(Role.values)}.",
                id="naevus.E002",
            )
        ]
    return []
