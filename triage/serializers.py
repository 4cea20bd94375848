from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.serializers import ImageSerializer, PredictionSerializer
from portal.records.serializers import OutcomeSerializer

from .models import Assessment, Management, ReadKind, Review
from .reviews import STATES
from .selectors import WorklistFilter


class WorklistQuerySerializer(serializers.Serializer):
    filter = serializers.ChoiceField(choices=WorklistFilter.choices, default=WorklistFilter.UNREVIEWED)


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

    @extend_schema_field(serializers.CharField())
    def get_thumbnail_url(self, obj):
        return reverse("image-thumbnail", args=[obj.image_id])


class WorklistCountsSerializer(serializers.Serializer):
    unreviewed = serializers.IntegerField()
    refer = serializers.IntegerField()
    awaiting_second_read = serializers.IntegerField()
    disagreement = serializers.IntegerField()
    follow_up_due = serializers.IntegerField()


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
