import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from portal.accounts.models import Clinic

from .vocabulary import AnatomicSite, BenignMalignant, Diagnosis, ImageKind, Sex


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("medical record number", max_length=64)
    name = models.CharField(max_length=200)
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_visit = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="unique_mrn_per_clinic")]
        indexes = [models.Index(fields=["clinic", "-last_visit"])]

    def __str__(self):
        return f"patient {self.pk}"

    @property
    def age(self) -> int | None:
        return timezone.now().year - self.birth_year if self.birth_year else None


def whole_save_fields(instance: models.Model, kwargs: dict, kept_elsewhere: tuple[str, ...]) -> dict:
    """`save()` keyword arguments that leave out columns another module keeps (recomputed under a lock) when an
    existing row is saved whole (the admin's change form, a shell): the values loaded a moment earlier must not
    overwrite what was stored meanwhile. New rows and saves that name their fields are unchanged."""
    if instance._state.adding or kwargs.get("update_fields") is not None or kwargs.get("force_insert"):
        return kwargs
    fields = [f.name for f in instance._meta.concrete_fields if not f.primary_key and f.name not in kept_elsewhere]
    return {**kwargs, "update_fields": fields}


class Lesion(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="lesions")
    anatomic_site = models.CharField(max_length=20, choices=AnatomicSite.choices, default=AnatomicSite.UNKNOWN)
    label = models.CharField(max_length=200, blank=True, help_text="Free label, e.g. 'left scapula, 3 cm below'.")
    created_at = models.DateTimeField(auto_now_add=True)
    biopsy_pending = models.BooleanField(
        default=False,
        editable=False,
        help_text="A signed decision to excise or refer urgently that no outcome has answered yet (kept by "
        "triage/reviews.py::biopsy_pending_refresh, with its copy on the lesion's current result that the worklist's "
        "awaiting-biopsy queue reads).",
    )

    def __str__(self):
        return f"lesion {self.pk}"

    def save(self, *args, **kwargs):
        super().save(*args, **whole_save_fields(self, kwargs, ("biopsy_pending",)))


def image_upload_to(instance: "LesionImage", filename: str) -> str:
    # Never the client's name: a random one, in a folder per clinic, whatever was uploaded.
    return f"images/{instance.clinic_id}/{uuid.uuid4().hex}.{filename.rsplit('.', 1)[-1]}"


class LesionImage(models.Model):
    """A stored image: the upload with its metadata stripped (a JPEG at marker level, a PNG
    re-encoded). `lesion` is empty for bulk-analysis images that were not mapped to a patient."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="images")
    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="images", null=True, blank=True)
    file = models.FileField(upload_to=image_upload_to, max_length=255)
    content_type = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64, db_index=True, help_text="Of the stored file.")
    width = models.PositiveIntegerField(help_text="As shown, after the orientation.")
    height = models.PositiveIntegerField(help_text="As shown, after the orientation.")
    orientation = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(8)],
        help_text="EXIF orientation (1–8) of the stored file, which has no EXIF: applied wherever it is "
        "decoded or shown (records.jpeg.with_orientation). 1 for PNGs and files stored before it existed, "
        "whose pixels were turned when stored.",
    )
    kind = models.CharField(max_length=12, choices=ImageKind.choices, default=ImageKind.DERMOSCOPIC)
    captured_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    original_name = models.CharField(max_length=255, blank=True, help_text="Display only; never used as a path.")

    def __str__(self):
        return f"image {self.pk}"


class Outcome(models.Model):
    """The ground truth a clinician records later, e.g. a biopsy result."""

    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="outcomes")
    diagnosis = models.CharField(max_length=40, choices=Diagnosis.choices)
    benign_malignant = models.CharField(max_length=10, choices=BenignMalignant.choices)
    date = models.DateField()
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"outcome {self.pk}"
