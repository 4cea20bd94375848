from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.serializers import ModelVersionBriefSerializer
from classifier.services import model_version_active


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001
        return False


def _broker_ok() -> bool:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        return False


HEALTH = inline_serializer(
    "Health",
    {
        "database": serializers.ChoiceField(choices=["ok", "error"]),
        "broker": serializers.ChoiceField(choices=["ok", "error"]),
        "model": ModelVersionBriefSerializer(allow_null=True),
    },
)


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: HEALTH, 503: HEALTH})
    def get(self, request):

        db = _database_ok()
        broker = _broker_ok()
        version = model_version_active() if db else None
        body = {
            "database": "ok" if db else "error",
            "broker": "ok" if broker else "error",
            "model": (
                {"id": version.pk, "name": version.name, "version": version.version, "is_demo": version.is_demo}
                if version
                else None
            ),
        }
        return Response(body, status=200 if db and broker else 503)
