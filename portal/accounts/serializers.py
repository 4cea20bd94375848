from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Role
from .selectors import user_membership


class ClinicBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_superuser = serializers.BooleanField()
    clinic = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    @extend_schema_field(ClinicBriefSerializer(allow_null=True))
    def get_clinic(self, user):
        membership = user_membership(user=user)
        return {"id": membership.clinic_id, "name": membership.clinic.name} if membership else None

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices, allow_null=True))
    def get_role(self, user):
        membership = user_membership(user=user)
        return membership.role if membership else None


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class CsrfSerializer(serializers.Serializer):
    csrfToken = serializers.CharField()  # noqa: N815 — the SPA's name for it


class LogoutSerializer(serializers.Serializer):
    redirect_url = serializers.URLField()
