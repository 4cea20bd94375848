from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.serializers import PredictionSerializer

from .models import Lesion, LesionImage, Outcome, Patient
from .vocabulary import AnatomicSite, BenignMalignant, Diagnosis, ImageKind, Sex, UploadImageType


class HighestRiskSerializer(serializers.Serializer):
    probability = serializers.FloatField()
    risk_category = serializers.ChoiceField(choices=[("refer", "Refer"), ("routine", "Routine")])
    model_version_id = serializers.IntegerField()


class PatientSerializer(serializers.ModelSerializer):
    age = serializers.IntegerField(read_only=True, allow_null=True)
    lesion_count = serializers.IntegerField(read_only=True, default=0)
    highest_risk = serializers.SerializerMethodField()

    class Meta:
        model = Patient
        fields = [
            "id", "mrn", "name", "sex", "birth_year", "age", "notes", "last_visit", "lesion_count",
            "highest_risk", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(HighestRiskSerializer(allow_null=True))
    def get_highest_risk(self, obj):
        probability = getattr(obj, "top_probability", None)
        if probability is None:
            return None
        return {"probability": probability, "risk_category": obj.top_risk, "model_version_id": obj.top_model_version_id}


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


class ImageSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    predictions = PredictionSerializer(many=True, read_only=True)
    lesion_id = serializers.IntegerField(read_only=True, allow_null=True)
    content_type = serializers.ChoiceField(choices=UploadImageType.choices, read_only=True)

    class Meta:
        model = LesionImage
        fields = [
            "id", "lesion_id", "kind", "content_type", "captured_at", "uploaded_at", "width", "height", "sha256",
            "file_url", "thumbnail_url", "predictions",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_file_url(self, obj):
        return reverse("image-file", args=[obj.pk])

    @extend_schema_field(serializers.CharField())
    def get_thumbnail_url(self, obj):
        return reverse("image-thumbnail", args=[obj.pk])


class ImageUploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    kind = serializers.ChoiceField(choices=ImageKind.choices, default=ImageKind.DERMOSCOPIC)
    captured_at = serializers.DateTimeField(required=False, allow_null=True)


class ImageUploadResponseSerializer(serializers.Serializer):
    images = ImageSerializer(many=True)


class LesionOutlierSerializer(serializers.Serializer):
    """Within-patient dissimilarity ("ugly duckling"), not a diagnosis: how far this lesion's newest
    analysed image lies from the patient's other lesions in the model's embedding space."""

    score = serializers.FloatField(
        help_text="Distance to the mean of the patient's other lesions over the patient's median such distance."
    )
    rank = serializers.IntegerField(help_text="1: the patient's most dissimilar lesion (the odd one out).")
    lesions = serializers.IntegerField(help_text="How many of the patient's lesions were compared (at least 3).")
    image_id = serializers.IntegerField(help_text="The image the lesion was compared on.")


class HistoryLesionSerializer(serializers.ModelSerializer):
    images = ImageSerializer(many=True)
    outcomes = OutcomeSerializer(many=True)
    outlier = serializers.SerializerMethodField()

    class Meta:
        model = Lesion
        fields = ["id", "anatomic_site", "label", "created_at", "images", "outcomes", "outlier"]
        read_only_fields = fields

    @extend_schema_field(LesionOutlierSerializer(allow_null=True))
    def get_outlier(self, obj):
        """Null when the patient has fewer than 3 lesions with an analysed image."""
        outlier = getattr(obj, "outlier", None)
        return None if outlier is None else LesionOutlierSerializer(outlier).data


class HistorySerializer(serializers.Serializer):
    patient = PatientSerializer()
    lesions = HistoryLesionSerializer(many=True)
