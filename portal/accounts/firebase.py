"""Firebase ID-token verification (firebase-admin). The Auth emulator is honoured only with DEBUG on."""

import logging
import os
import threading

import firebase_admin
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from firebase_admin import auth, credentials

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_APP_NAME = "naevus"


def _app():
    emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "")
    if emulator and not settings.DEBUG:
        raise ImproperlyConfigured("FIREBASE_AUTH_EMULATOR_HOST is set while DEBUG is off.")
    with _lock:
        try:
            return firebase_admin.get_app(_APP_NAME)
        except ValueError:
            cred = (
                credentials.Certificate(settings.FIREBASE_CREDENTIALS_FILE)
                if settings.FIREBASE_CREDENTIALS_FILE
                else None
            )
            options = {"projectId": settings.FIREBASE_PROJECT_ID} if settings.FIREBASE_PROJECT_ID else None
            return firebase_admin.initialize_app(credential=cred, options=options, name=_APP_NAME)


def is_configured() -> bool:
    return bool(settings.FIREBASE_PROJECT_ID)


def verify(token: str, *, check_revoked: bool) -> dict:
    return auth.verify_id_token(token, app=_app(), check_revoked=check_revoked)
