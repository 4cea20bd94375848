"""Signed reviews of a result and the clinic's second-read policy.

A review is keyed by the Prediction the worklist shows (a lesion's newest image's result): that is one lesion
visit's result, the row whose risk the reader agrees or disagrees with, and what the worklist already orders
by. A lesion with a new visit gets a new worklist item and a new review; the old ones stay with their result.

A review is a draft until signed; a signed review is never changed. An amendment is a new signed row that
`supersedes` the old one, which stays as it was; the current version of a read is the signed one that no
signed row supersedes."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Assessment(models.TextChoices):
    BENIGN = "benign", "Benign"
    SUSPICIOUS = "suspicious", "Suspicious"
    MALIGNANT = "malignant", "Malignant"


class Management(models.TextChoices):
    DISCHARGE = "discharge", "Discharge"
    ROUTINE_FOLLOW_UP = "routine_follow_up", "Routine follow-up"
    SHORT_TERM_MONITORING = "short_term_monitoring", "Short-term monitoring"
    EXCISE = "excise", "Excise / biopsy"
    URGENT_REFERRAL = "urgent_referral", "Urgent referral"


FOLLOW_UP_KINDS = {Management.ROUTINE_FOLLOW_UP, Management.SHORT_TERM_MONITORING}
# Decisions that send the lesion for histology: an excision or biopsy here, or an urgent referral to a service
# that will take one. Both wait for a recorded outcome (the worklist's "awaiting biopsy").
BIOPSY_KINDS = {Management.EXCISE, Management.URGENT_REFERRAL}


class ReadKind(models.TextChoices):
    FIRST = "first", "First read"
    SECOND = "second", "Second read"
    THIRD = "third", "Third read"
    CONSENSUS = "consensus", "Consensus note"


class ReviewPolicy(models.Model):
    """Which first reads need a second, independent read. Without a row, the defaults below apply."""

    clinic = models.OneToOneField("accounts.Clinic", on_delete=models.CASCADE, related_name="review_policy")
    second_read_refer = models.BooleanField(default=True, help_text="Every result the model called refer.")
    second_read_disagreement = models.BooleanField(
        default=True, help_text="Every first read that disagrees with the model."
    )
    second_read_share = models.FloatField(
        default=0.0,
        help_text="Share (0-1) of the remaining first reads, drawn deterministically from the review's id.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "review policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(second_read_share__gte=0) & Q(second_read_share__lte=1), name="share_between_0_and_1"
            )
        ]

    def __str__(self):
        return f"review policy of clinic {self.clinic_id}"


class Review(models.Model):
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="reviews")
    prediction = models.ForeignKey("classifier.Prediction", on_delete=models.PROTECT, related_name="reviews")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    kind = models.CharField(max_length=10, choices=ReadKind.choices)
    assessment = models.CharField(max_length=12, choices=Assessment.choices)
    management = models.CharField(max_length=24, choices=Management.choices)
    follow_up_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    agrees_with_model = models.BooleanField(help_text="Derived from the result's risk and the assessment.")
    model_risk = models.CharField(max_length=10, help_text="The result's risk category the agreement was read on.")
    needs_second_read = models.BooleanField(default=False, help_text="First reads: set by the policy at signing.")
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["prediction", "kind"])]
        constraints = [
            models.CheckConstraint(
                # Sorted: a set iterates in a per-process order, which made makemigrations see a change at random.
                condition=~Q(management__in=sorted(m.value for m in FOLLOW_UP_KINDS)) | Q(follow_up_date__isnull=False),
                name="follow_up_kinds_have_a_date",
            ),
            # One open draft per reader and result: "open my read" returns it rather than adding another.
            models.UniqueConstraint(
                fields=["prediction", "reader"], condition=Q(signed_at__isnull=True), name="one_draft_per_reader"
            ),
        ]

    def __str__(self):
        return f"review {self.pk} ({self.kind}, {'signed' if self.signed_at else 'draft'})"
