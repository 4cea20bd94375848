from django.utils import timezone
from rest_framework import serializers

from .models import Lesion, Outcome
from .vocabulary import AnatomicSite, BenignMalignant, Diagnosis, ImageKind, Sex


class PatientWriteSerializer(serializers.Serializer):
    mrn = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200)
    sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = serializers.IntegerField(min_value=1900, allow_null=True, required=False)
    notes = serializers.CharField(allow_blank=True, required=False, default="", max_length=10000)

    def validate_birth_year(self, value):
        if value is not None and value > timezone.now().year:
            raise serializers.ValidationError("Birth year cannot be in the future.")
        return value


class LesionSerializer(serializers.ModelSerializer):
    patient_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Lesion
        fields = ["id", "patient_id", "anatomic_site", "label", "created_at"]
        read_only_fields = fields


class LesionWriteSerializer(serializers.Serializer):
    anatomic_site = serializers.ChoiceField(choices=AnatomicSite.choices)
    label = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class OutcomeSerializer(serializers.ModelSerializer):
    lesion_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Outcome
        fields = ["id", "lesion_id", "diagnosis", "benign_malignant", "date", "notes", "created_at"]
        read_only_fields = fields


class OutcomeWriteSerializer(serializers.Serializer):
    diagnosis = serializers.ChoiceField(choices=Diagnosis.choices)
    benign_malignant = serializers.ChoiceField(choices=BenignMalignant.choices)
    date = serializers.DateField()
    notes = serializers.CharField(allow_blank=True, required=False, default="", max_length=10000)

    def validate_date(self, value):
        if value > timezone.now().date():
            raise serializers.ValidationError("The date cannot be in the future.")
        return value


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    kind = serializers.ChoiceField(choices=ImageKind.choices, default=ImageKind.DERMOSCOPIC)
    captured_at = serializers.DateTimeField(required=False, allow_null=True)
