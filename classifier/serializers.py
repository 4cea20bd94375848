from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.records.models import Lesion, LesionImage, Patient
from portal.records.serializers import OutcomeSerializer
from portal.records.vocabulary import UploadImageType

from .heatmaps import heatmap_available
from .inference.fusion import FIELDS as FUSION_FIELDS
from .inference.quality import REASON_LABELS, retake_label
from .models import BatchJob, ClinicOperatingPoint, ModelVersion, Prediction


class ModelVersionBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "name", "version", "is_demo"]
        read_only_fields = fields


class ModelVersionSerializer(serializers.ModelSerializer):
    plots = serializers.SerializerMethodField()
    class_names = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "id", "name", "version", "arch", "img_size", "class_names", "melanoma_index", "threshold",
            "calibration", "metrics", "plots", "is_active", "is_demo", "sha256", "created_at", "activated_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_plots(self, obj):
        return {name: reverse("model-plot", args=[obj.pk, name]) for name in (obj.plots or {})}


def _ci95():
    return serializers.ListField(child=serializers.FloatField(allow_null=True), allow_null=True, required=False)


class MeasuredSerializer(serializers.Serializer):
    """One threshold's figures on the clinic's cases (null where undefined), each with its
    patient-level bootstrap 95% CI."""

    threshold = serializers.FloatField()
    roc_auc = serializers.FloatField(allow_null=True)
    roc_auc_ci95 = _ci95()
    sensitivity = serializers.FloatField(allow_null=True)
    sensitivity_ci95 = _ci95()
    specificity = serializers.FloatField(allow_null=True)
    specificity_ci95 = _ci95()
    ece = serializers.FloatField(allow_null=True)
    ece_ci95 = _ci95()


class OutcomesNeededSerializer(serializers.Serializer):
    melanomas = serializers.IntegerField()
    benign = serializers.IntegerField()


class LocalReportSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    melanomas = serializers.IntegerField()
    benign = serializers.IntegerField()
    patients = serializers.IntegerField()
    target_sensitivity = serializers.FloatField()
    minimum = OutcomesNeededSerializer()
    global_ = MeasuredSerializer(help_text="At the version's global calibration and threshold.")
    local = MeasuredSerializer(help_text="At the clinic's calibration and threshold (chosen on these same cases).")

    def get_fields(self):
        # "global" is a Python keyword: the field is declared as global_ and named here.
        fields = super().get_fields()
        fields["global"] = fields.pop("global_")
        return fields


class OperatingPointSerializer(serializers.ModelSerializer):
    """A clinic's operating point and the local validation report it was chosen from."""

    model_version = ModelVersionBriefSerializer()
    reliability_plot_url = serializers.SerializerMethodField()
    report = LocalReportSerializer(read_only=True)

    class Meta:
        model = ClinicOperatingPoint
        fields = [
            "id", "clinic_id", "model_version", "calibration", "threshold", "target_sensitivity", "report",
            "reliability_plot_url", "is_active", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_reliability_plot_url(self, obj):
        return reverse("operating-point-reliability", args=[obj.pk]) if obj.reliability_plot else None


class TimingsSerializer(serializers.Serializer):
    queue_ms = serializers.FloatField(allow_null=True)
    decode_ms = serializers.FloatField(allow_null=True)
    inference_ms = serializers.FloatField(allow_null=True)
    quality_ms = serializers.FloatField(allow_null=True)


class OperatingPointUsedSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["clinic", "global"])
    id = serializers.IntegerField(allow_null=True, help_text="The clinic's operating point; null for the global one.")


QUALITY_REASONS = [(code, label) for code, label in REASON_LABELS.items()]


class QualitySerializer(serializers.Serializer):
    """The image-quality gate's verdict on the model's crop. A flagged image keeps its score; the
    advice is to retake it, until a clinician dismisses it."""

    ok = serializers.BooleanField(help_text="True: nothing to advise.")
    reasons = serializers.ListField(child=serializers.ChoiceField(choices=QUALITY_REASONS))
    label = serializers.CharField(
        allow_null=True, help_text='e.g. "quality: retake advised (blurred)"; null when the image passed.'
    )
    measures = serializers.DictField(child=serializers.FloatField(), allow_null=True)
    dismissed = serializers.BooleanField(help_text="A clinician accepted the image as it is.")
    dismissed_at = serializers.DateTimeField(allow_null=True)


def quality_data(prediction: Prediction) -> dict | None:
    if prediction.status != Prediction.Status.DONE:
        return None
    reasons = list(prediction.quality_reasons or [])
    return {
        "ok": not reasons,
        "reasons": reasons,
        "label": retake_label(reasons) or None,
        "measures": prediction.quality_measures,
        "dismissed": prediction.quality_dismissed_at is not None,
        "dismissed_at": prediction.quality_dismissed_at,
    }


class PredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionBriefSerializer()
    heatmap_url = serializers.SerializerMethodField()
    timings = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    image_id = serializers.IntegerField(read_only=True)
    risk_category = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    operating_point = serializers.SerializerMethodField()
    quality = serializers.SerializerMethodField()
    metadata_used = serializers.ListField(
        child=serializers.ChoiceField(choices=list(FUSION_FIELDS)),
        allow_null=True,
        read_only=True,
        help_text="Patient/lesion fields the model combined with the image (its metadata fusion head); "
        "empty: none were recorded; null: the model scores the image alone.",
    )

    class Meta:
        model = Prediction
        fields = [
            "id", "url", "image_id", "status", "melanoma_probability", "model_probability", "image_probability",
            "metadata_used", "raw_score",
            "class_probabilities", "risk_category", "threshold", "operating_point", "model_version", "heatmap_url",
            "quality", "ood_score", "ood_flag", "error", "attempts", "timings", "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(QualitySerializer(allow_null=True))
    def get_quality(self, obj):
        """Null until the prediction is done."""
        return quality_data(obj)

    @extend_schema_field(OperatingPointUsedSerializer(allow_null=True))
    def get_operating_point(self, obj):
        """Which threshold the risk was decided on; null until the prediction is done."""
        if obj.status != Prediction.Status.DONE:
            return None
        return {"scope": "clinic" if obj.operating_point_id else "global", "id": obj.operating_point_id}

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_heatmap_url(self, obj):
        return reverse("prediction-heatmap", args=[obj.pk]) if heatmap_available(obj) else None

    @extend_schema_field(serializers.ChoiceField(choices=Prediction.Risk.choices, allow_null=True))
    def get_risk_category(self, obj):
        return obj.risk_category or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_error(self, obj):
        return obj.error or None

    @extend_schema_field(serializers.CharField())
    def get_url(self, obj):
        return reverse("prediction-detail", args=[obj.pk])

    @extend_schema_field(TimingsSerializer(allow_null=True))
    def get_timings(self, obj):
        if obj.status != Prediction.Status.DONE:
            return None
        return {
            "queue_ms": obj.queue_ms,
            "decode_ms": obj.decode_ms,
            "inference_ms": obj.inference_ms,
            "quality_ms": obj.quality_ms,
        }


class BatchSerializer(serializers.ModelSerializer):
    model_version = ModelVersionBriefSerializer()
    done = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    queued = serializers.IntegerField(read_only=True)
    running = serializers.IntegerField(read_only=True)
    cancelled = serializers.IntegerField(read_only=True)
    rate_per_min = serializers.FloatField(read_only=True, allow_null=True)
    eta_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = BatchJob
        fields = [
            "id", "name", "status", "total", "done", "failed", "queued", "running", "cancelled", "rate_per_min",
            "eta_seconds", "created_at", "finished_at", "model_version",
        ]  # fmt: skip
        read_only_fields = fields


class BatchResultSerializer(serializers.Serializer):
    prediction_id = serializers.IntegerField(allow_null=True)
    image_id = serializers.IntegerField(allow_null=True)
    file_name = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)
    patient_id = serializers.IntegerField(allow_null=True)
    lesion_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=Prediction.Status.choices)
    melanoma_probability = serializers.FloatField(allow_null=True)
    risk_category = serializers.ChoiceField(choices=Prediction.Risk.choices, allow_null=True)
    heatmap_url = serializers.CharField(allow_null=True)
    quality_reasons = serializers.ListField(child=serializers.ChoiceField(choices=QUALITY_REASONS))
    quality_label = serializers.CharField(allow_null=True, help_text='e.g. "quality: retake advised (blurred)"')
    quality_dismissed = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)


class BatchCreateSerializer(serializers.Serializer):
    archive = serializers.FileField(required=False, help_text="A .zip of JPEG/PNG images.")
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), required=False)
    mapping = serializers.FileField(
        required=False, help_text="CSV: file_name,mrn[,patient_name,lesion_label,anatomic_site]"
    )
    create_missing = serializers.BooleanField(default=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RerunSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()


# The records as the clinician reads them: a patient with the highest current risk, an image with its
# predictions. Composed here, above records, so that records import nothing from the classifier.


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
