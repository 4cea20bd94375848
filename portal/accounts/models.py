from django.conf import settings
from django.db import models


class Clinic(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"


class Membership(models.Model):
    """A clinician is a Django user with exactly one clinic membership."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLINICIAN)
    firebase_uid = models.CharField(max_length=128, unique=True, null=True, blank=True)
    # The OpenID Connect provider's `sub` (one provider per deployment: OIDC_OP_ISSUER).
    oidc_subject = models.CharField(max_length=255, unique=True, null=True, blank=True)

    def __str__(self):
        return f"{self.user_id}@{self.clinic_id} ({self.role})"


class Invitation(models.Model):
    """A clinic admin invites an e-mail address; its first verified Firebase or OpenID Connect sign-in joins
    the clinic."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLINICIAN)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email"], condition=models.Q(accepted_at__isnull=True), name="one_open_invitation_per_email"
            )
        ]

    def __str__(self):
        return f"invitation {self.pk} to clinic {self.clinic_id}"
