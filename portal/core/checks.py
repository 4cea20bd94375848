"""Start-up checks: refuse to run with the Firebase emulator honoured outside DEBUG."""

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
