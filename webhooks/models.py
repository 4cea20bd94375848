import secrets

from django.conf import settings
from django.db import models


class Event(models.TextChoices):
    PREDICTION_REFER = "prediction.refer", "A result crossed its referral threshold (refer)"
    REVIEW_SIGNED = "review.signed", "A review was signed (or amended)"
    BATCH_DONE = "batch.done", "A batch finished"


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


class Endpoint(models.Model):
    """A URL of a clinic's own IT that receives the events it subscribed to, as JSON POSTs signed with
    `secret` (HMAC-SHA256 over "<timestamp>.<body>", `webhooks.signing`)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, help_text="https:// (http:// only where the settings allow it).")
    events = models.JSONField(default=list, help_text="Event names this endpoint receives.")
    secret = models.CharField(
        max_length=100, default=_new_secret, help_text="Shared secret the receiver verifies the signature with."
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clinic", "url"]

    def __str__(self):
        return self.url


class Delivery(models.Model):
    """One event for one endpoint, and how sending it went. The database is the source of truth: a lost
    task message is published again by the sweeper (`webhooks.services.deliveries_sweep`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    payload = models.JSONField(help_text="The JSON body sent (ids and results only, never names).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self):
        return f"{self.event} → {self.endpoint_id} ({self.status})"
