from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classifier.serializers import PredictionSerializer
from portal.records.serializers import ImageSerializer, OutcomeSerializer

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


class WorklistLesionSerializer(serializers.Serializer):
    """A lesion as the worklist opens it: every image with every result, newest first, and what comes next."""

    id = serializers.IntegerField()
    label = serializers.CharField()
    anatomic_site = serializers.CharField()
    patient = WorklistPatientSerializer()
    images = ImageSerializer(many=True, source="item_images")
    outcomes = OutcomeSerializer(many=True, source="item_outcomes")
    next_lesion_id = serializers.IntegerField(allow_null=True)
