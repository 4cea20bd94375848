from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.serializers import ImageSerializer, PredictionSerializer
from portal.records.serializers import OutcomeSerializer

from .models import Assessment, Management, ReadKind, Review
from .reviews import STATES
from .selectors import WorklistFilter, WorklistSort


class WorklistQuerySerializer(serializers.Serializer):
    filter = serializers.ChoiceField(choices=WorklistFilter.choices, default=WorklistFilter.UNREVIEWED)
    sort = serializers.ChoiceField(choices=WorklistSort.choices, default=WorklistSort.RISK)


class WorklistPatientSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mrn = serializers.CharField()
    name = serializers.CharField()
    age = serializers.IntegerField(allow_null=True)
    sex = serializers.CharField()


class WorklistItemSerializer(serializers.Serializer):
    """One row of the queue: a lesion and its latest result (a done prediction)."""

    lesion_id = serializers.IntegerField(source="image.lesion_id")
    lesion_label = serializers.CharField(source="image.lesion.label")
    anatomic_site = serializers.CharField(source="image.lesion.anatomic_site")
    patient = WorklistPatientSerializer(source="image.lesion.patient")
    image_id = serializers.IntegerField()
    thumbnail_url = serializers.SerializerMethodField()
    waiting_since = serializers.DateTimeField()
    prediction = PredictionSerializer(source="*")
    crossed_threshold_upward = serializers.BooleanField(
        help_text="The lesion's latest visit is at or above its threshold and the visit before was below its "
        "own (triage/followup.py)."
    )
    outlier_score = serializers.FloatField(
        allow_null=True,
        help_text="Within-patient dissimilarity of this lesion among the patient's lesions (the case history's "
        "odd-one-out score; a dissimilarity, not a diagnosis). Null: not compared (fewer than 3 analysed lesions).",
    )

    @extend_schema_field(serializers.CharField())
    def get_thumbnail_url(self, obj):
        return reverse("image-thumbnail", args=[obj.image_id])


class WorklistCountsSerializer(serializers.Serializer):
    unreviewed = serializers.IntegerField()
    refer = serializers.IntegerField()
    awaiting_second_read = serializers.IntegerField()
    disagreement = serializers.IntegerField()
    follow_up_due = serializers.IntegerField()
    awaiting_biopsy = serializers.IntegerField()


class WorklistLesionSerializer(serializers.Serializer):
    """A lesion as the worklist opens it: every image with every result, newest first, and what comes next."""

    id = serializers.IntegerField()
    label = serializers.CharField()
    anatomic_site = serializers.CharField()
    patient = WorklistPatientSerializer()
    images = ImageSerializer(many=True, source="item_images")
    outcomes = OutcomeSerializer(many=True, source="item_outcomes")
    next_lesion_id = serializers.IntegerField(allow_null=True)


class ReviewWriteSerializer(serializers.Serializer):
    """What a reader types. The agreement with the model is derived; which read it is follows from the
    result's state (`consensus` asks for a consensus note where readers disagree)."""

    assessment = serializers.ChoiceField(choices=Assessment.choices)
    management = serializers.ChoiceField(choices=Management.choices)
    follow_up_date = serializers.DateField(required=False, allow_null=True, default=None)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    consensus = serializers.BooleanField(required=False, default=False, write_only=True)


class ReviewUpdateSerializer(serializers.Serializer):
    assessment = serializers.ChoiceField(choices=Assessment.choices, required=False)
    management = serializers.ChoiceField(choices=Management.choices, required=False)
    follow_up_date = serializers.DateField(required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ReviewSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ReadKind.choices)
    reader_id = serializers.IntegerField()
    reader_email = serializers.EmailField(source="reader.email")
    signed = serializers.SerializerMethodField()
    is_current = serializers.BooleanField(help_text="Signed, and no signed amendment supersedes it.")

    class Meta:
        model = Review
        fields = [
            "id", "prediction_id", "kind", "reader_id", "reader_email", "assessment", "management", "follow_up_date",
            "notes", "agrees_with_model", "model_risk", "needs_second_read", "supersedes", "signed", "signed_at",
            "is_current", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_signed(self, obj) -> bool:
        return obj.signed_at is not None


class ReviewListSerializer(serializers.Serializer):
    prediction_id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=[(s, s) for s in STATES])
    withheld = serializers.IntegerField(help_text="Signed reads hidden from you until you sign the second read.")
    reviews = ReviewSerializer(many=True)


class ComparisonQuerySerializer(serializers.Serializer):
    images = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=2,
        max_length=2,
        required=False,
        help_text="Two image ids of the lesion, in any order (`?images=1&images=2`); default: its two latest visits.",
    )

    def validate_images(self, value):
        if value[0] == value[1]:
            raise serializers.ValidationError("Choose two different images.")
        return value


class VisitSerializer(serializers.Serializer):
    """One visit: the image and its result (the image's newest done prediction)."""

    image_id = serializers.IntegerField()
    visit_at = serializers.DateTimeField(help_text="When the image was taken, else when it was uploaded.")
    width = serializers.IntegerField(source="image.width")
    height = serializers.IntegerField(source="image.height")
    file_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    prediction = PredictionSerializer(source="*")

    @extend_schema_field(serializers.CharField())
    def get_file_url(self, obj):
        return reverse("image-file", args=[obj.image_id])

    @extend_schema_field(serializers.CharField())
    def get_thumbnail_url(self, obj):
        return reverse("image-thumbnail", args=[obj.image_id])


class ComparisonSerializer(serializers.Serializer):
    lesion_id = serializers.IntegerField(source="lesion.id")
    lesion_label = serializers.CharField(source="lesion.label")
    anatomic_site = serializers.CharField(source="lesion.anatomic_site")
    patient_id = serializers.IntegerField(source="lesion.patient_id")
    earlier = VisitSerializer()
    later = VisitSerializer()
    probability_change = serializers.FloatField(help_text="The later probability minus the earlier.")
    days_between = serializers.IntegerField()
    crossed_threshold_upward = serializers.BooleanField(
        help_text="The earlier result was below its threshold and the later is at or above its own."
    )
    visits = VisitSerializer(many=True, help_text="Every analysed visit, newest first, to choose from.")
