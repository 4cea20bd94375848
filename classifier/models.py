from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce

from portal.accounts.models import Clinic
from portal.records.models import LesionImage, whole_save_fields

# How a demo version is labelled wherever it shows (API, SPA, admin, reports, the FHIR export).
DEMO_LABEL = "demo — not for clinical use"


class ModelVersion(models.Model):
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    arch = models.CharField(max_length=100, help_text="timm architecture, e.g. efficientnet_b0")
    img_size = models.PositiveIntegerField()
    preprocess = models.JSONField(help_text="The preprocessing definition (classifier.inference.preprocessing).")
    class_names = models.JSONField()
    melanoma_index = models.PositiveSmallIntegerField(default=0)
    threshold = models.FloatField(help_text="Operating threshold on the calibrated melanoma probability.")
    calibration = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict, blank=True)
    plots = models.JSONField(default=dict, blank=True, help_text="name → file name under the version's folder")
    artifact_path = models.CharField(max_length=500)
    sha256 = models.CharField(max_length=64)
    onnx_path = models.CharField(max_length=500, blank=True)
    onnx_sha256 = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=False)
    is_demo = models.BooleanField(default=False, help_text="Demo — not for clinical use.")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_model_name_version"),
            models.UniqueConstraint(fields=["is_active"], condition=models.Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self):
        label = f"{self.name} {self.version}"
        return f"{label} ({DEMO_LABEL})" if self.is_demo else label

    @property
    def val_auc(self) -> float | None:
        """Validation ROC AUC of what is served: the fused score's when the version has a fusion head."""
        metrics = self.metrics or {}
        return (metrics.get("fused") or metrics).get("val", {}).get("roc_auc")


class ClinicOperatingPoint(models.Model):
    """A clinic's own calibration and referral threshold for one model version, fitted on that
    clinic's recorded outcomes (`classifier.operating_points`), with the local validation report
    it was chosen from. At most one is active per clinic and version; without one, the version's
    global calibration and threshold apply."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="operating_points")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="operating_points")
    calibration = models.JSONField(
        help_text="Platt recalibration {a, b} of the log-odds of the version's calibrated probability."
    )
    threshold = models.FloatField(help_text="Referral threshold on the locally calibrated probability.")
    target_sensitivity = models.FloatField()
    report = models.JSONField(help_text="The local validation report (n, melanomas, AUC, sensitivity, specificity …).")
    reliability_plot = models.FileField(upload_to="operating_points/", blank=True, max_length=255)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "model_version"],
                condition=models.Q(is_active=True),
                name="one_active_operating_point_per_clinic_and_version",
            )
        ]

    def __str__(self):
        return f"operating point {self.pk} (clinic {self.clinic_id}, model version {self.model_version_id})"


class BatchJob(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        CANCELLED = "cancelled"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    name = models.CharField(max_length=200, blank=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="batches")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"batch {self.pk}"


# The worklist's orders (triage.selectors) as the expressions its partial indexes are built on: the queue's query
# and the indexes use these same objects, so PostgreSQL reads a page of a clinic's queue in index order instead
# of sorting every current result of the clinic (bench/api_load.py measures it).
CURRENT_RESULT = models.Q(lesion_latest=True, status="done", melanoma_probability__isnull=False)
REFER_RANK = models.Case(
    models.When(risk_category="refer", then=models.Value(0)),
    default=models.Value(1),
    output_field=models.IntegerField(),
)
WAITING_SINCE = Coalesce("finished_at", "created_at")
# Lesions never compared (fewer than 3 analysed lesions in the patient) sort after every compared one.
OUTLIER_KEY = Coalesce("outlier_score", models.Value(-1.0), output_field=models.FloatField())
# The risk order (refer first, then the higher probability, the longer wait, the id) as index keys.
RISK_KEYS = (REFER_RANK, F("melanoma_probability").desc(), WAITING_SINCE, F("id"))


class Prediction(models.Model):
    """Both the job (status, attempts) and its result: one per image and model version."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Risk(models.TextChoices):
        REFER = "refer", "Refer"
        ROUTINE = "routine", "Routine"

    image = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="predictions")
    # The image's clinic, copied when the prediction is created (an image never changes clinic): the worklist
    # reads one clinic's current results through one index, without joining every image.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", editable=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    batch = models.ForeignKey(BatchJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="predictions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Deliveries that started running.")
    image_sha256 = models.CharField(max_length=64)
    melanoma_probability = models.FloatField(
        null=True, blank=True, help_text="Calibrated: by the clinic's operating point when it used one."
    )
    model_probability = models.FloatField(
        null=True, blank=True, help_text="Calibrated by the version alone: what operating points are fitted on."
    )
    image_probability = models.FloatField(
        null=True,
        blank=True,
        help_text="The image model's calibrated probability alone; differs from model_probability when the "
        "version fuses metadata.",
    )
    metadata_used = models.JSONField(
        null=True,
        blank=True,
        help_text='Patient/lesion fields the version\'s fusion head used, e.g. ["age", "sex", "site"]; '
        "empty: none were known; null: the version scores the image alone.",
    )
    raw_score = models.FloatField(null=True, blank=True, help_text="Uncalibrated melanoma logit.")
    class_probabilities = models.JSONField(null=True, blank=True)
    risk_category = models.CharField(max_length=10, choices=Risk.choices, blank=True)
    threshold = models.FloatField(null=True, blank=True, help_text="The threshold the risk was decided on.")
    operating_point = models.ForeignKey(
        ClinicOperatingPoint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="predictions",
        help_text="The clinic's operating point it was decided on; empty: the version's global one.",
    )
    heatmap = models.FileField(
        upload_to="heatmaps/",
        blank=True,
        max_length=255,
        help_text="The overlay PNG, rendered from `cam` on its first request and kept (classifier/heatmaps.py).",
    )
    cam = models.JSONField(
        null=True,
        blank=True,
        help_text='The class activation map as the worker stored it: {"shape": [h, w], "u8": base64 of h×w '
        "uint8, the positive evidence scaled to 0–255}.",
    )
    quality_reasons = models.JSONField(
        default=list,
        blank=True,
        help_text="Why a retake is advised (classifier.inference.quality reason codes); empty: the image passed.",
    )
    quality_measures = models.JSONField(null=True, blank=True, help_text="sharpness, highlights, shadows, …")
    quality_dismissed_at = models.DateTimeField(null=True, blank=True)
    quality_dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ood_score = models.FloatField(
        null=True,
        blank=True,
        help_text="Mahalanobis distance of the image's embedding to the model's training images "
        "(classifier.inference.ood); null: the model version carries no such statistics.",
    )
    ood_flag = models.BooleanField(
        null=True, blank=True, help_text="The image lies outside what this model was trained on (score > threshold)."
    )
    embedding = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="The model's pooled embedding of the image (float32, little-endian): the within-patient "
        "outlier score compares a patient's lesions on it.",
    )
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    queue_ms = models.FloatField(null=True, blank=True)
    decode_ms = models.FloatField(null=True, blank=True)
    inference_ms = models.FloatField(null=True, blank=True)
    quality_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True, help_text="Last time it was published to the broker.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    lesion_latest = models.BooleanField(
        default=False,
        editable=False,
        help_text="The lesion's current result: its newest image's done prediction (kept by lesion_latest_refresh; "
        "the worklist's rows).",
    )
    outlier_score = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="Within-patient dissimilarity of this result's image among the patient's lesions "
        "(classifier.selectors.lesion_outliers), set on the result that represents its lesion there and kept by "
        "patient_outliers_refresh; null: not compared (fewer than 3 lesions, no embedding). The worklist sorts on it.",
    )

    # Kept by triage (triage/reviews.py::review_fields_refresh, on every save and delete of a review): what the
    # worklist's review queues read through an index instead of evaluating every lesion's reads per request.
    review_state = models.CharField(
        max_length=24,
        default="unreviewed",
        editable=False,
        help_text="What this result's current reads add up to (triage/reviews.py: STATES, state_of).",
    )
    biopsy_pending = models.BooleanField(
        default=False,
        editable=False,
        help_text="On a lesion's current result: its lesion's `biopsy_pending` (a biopsy decided, not yet answered).",
    )
    follow_up_due_on = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="The earliest follow-up date among this result's current reads; null: none decided.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="one_prediction_per_image_and_version")
        ]
        indexes = [
            models.Index(fields=["batch", "status"]),
            models.Index(fields=["status", "queued_at"]),
            # The worklist reads the clinic's current results only: a few per lesion at most are flagged.
            models.Index(fields=["image"], condition=models.Q(lesion_latest=True), name="prediction_lesion_latest"),
            # A review queue (unreviewed, refer, awaiting second read, disagreement) in either order, from one
            # range of an index; the follow-ups due and the pending biopsies are few and sorted.
            models.Index(
                F("clinic"), F("review_state"), *RISK_KEYS, condition=CURRENT_RESULT, name="prediction_worklist_state"
            ),
            models.Index(
                F("clinic"),
                F("review_state"),
                OUTLIER_KEY.desc(),
                *RISK_KEYS,
                condition=CURRENT_RESULT,
                name="prediction_worklist_outlier",
            ),
            models.Index(
                F("clinic"),
                *RISK_KEYS,
                condition=CURRENT_RESULT & models.Q(biopsy_pending=True),
                name="prediction_worklist_biopsy",
            ),
            models.Index(
                fields=["clinic", "follow_up_due_on"],
                condition=CURRENT_RESULT & models.Q(follow_up_due_on__isnull=False),
                name="prediction_follow_up_due",
            ),
        ]

    def __str__(self):
        return f"prediction {self.pk} ({self.status})"

    def save(self, *args, **kwargs):
        if self.clinic_id is None and self.image_id is not None:
            self.clinic_id = self.image.clinic_id
        # Services store results with .update() and refresh the flag themselves; a row saved whole (admin,
        # fixtures, tests) refreshes it here, so the worklist never misses a done result. Saved whole, it leaves
        # the columns triage keeps from the reads as stored (triage/reviews.py).
        super().save(*args, **whole_save_fields(self, kwargs, ("review_state", "follow_up_due_on", "biopsy_pending")))
        if self.status == self.Status.DONE:
            lesion_latest_refresh(lesion_ids=[self.image.lesion_id])
            patient_outliers_refresh(lesion_ids=[self.image.lesion_id])


class BatchRejectedFile(models.Model):
    """A file of a batch that never became an image (not an image, corrupt, unmapped): it fails on
    its own, with its reason, and never the batch."""

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="rejected_files")
    file_name = models.CharField(max_length=255)
    reason = models.CharField(max_length=500)

    def __str__(self):
        return f"rejected file {self.pk} of batch {self.batch_id}"


# The order in which a lesion's done results are "newest first": the newest image, then the newest analysis.
LATEST_ORDER = ("-image__uploaded_at", "-image_id", "-finished_at", "-id")
# The same, for rows written in bulk (every lesion at once; PostgreSQL and SQLite). Flags only: run it on rows
# that have none yet (bulk inserts); a migration ran it once for the rows before the flag existed.
FLAG_LATEST_SQL = """
UPDATE classifier_prediction SET lesion_latest = TRUE WHERE id IN (
  SELECT id FROM (
    SELECT p.id, ROW_NUMBER() OVER (
      PARTITION BY li.lesion_id ORDER BY li.uploaded_at DESC, li.id DESC, p.finished_at DESC, p.id DESC
    ) AS position
    FROM classifier_prediction p JOIN records_lesionimage li ON li.id = p.image_id
    WHERE p.status = 'done' AND p.melanoma_probability IS NOT NULL AND li.lesion_id IS NOT NULL
  ) ranked WHERE position = 1
)
"""


def lesion_latest_refresh(*, lesion_ids) -> None:
    """Flag each lesion's current result (`Prediction.lesion_latest`): its newest image's newest done
    prediction with a probability. The lesions' rows are locked (in id order) while they are recomputed, so two
    results of one lesion stored at once leave exactly one flagged. Four queries whatever the number of lesions
    (a worker's chunk refreshes all of its lesions at once)."""
    from django.db import transaction

    from portal.core.clinic_changes import clinic_changed
    from portal.records.models import Lesion

    lesion_ids = sorted({i for i in lesion_ids if i is not None})
    if not lesion_ids:
        return
    # No savepoint inside a caller's transaction (a round trip each way; a failure fails the caller anyway).
    with transaction.atomic(savepoint=False):
        # FOR NO KEY UPDATE (as the patients' lock below): an upload's deferred foreign-key checks take FOR KEY
        # SHARE on the lesion at commit, which this lock must not block (see patient_outliers_refresh).
        locked = Lesion.objects.select_for_update(no_key=True, of=("self",)).filter(pk__in=lesion_ids).order_by("pk")
        rows = list(locked.values_list("pk", "patient__clinic_id", "biopsy_pending"))
        # The worklist's counts read these flags: their clinics' cached counts are stale from here on.
        clinic_changed(*{clinic_id for _, clinic_id, _ in rows})
        pending = {pk for pk, _, biopsy_pending in rows if biopsy_pending}
        done = Prediction.objects.filter(
            image__lesion_id__in=lesion_ids, status=Prediction.Status.DONE, melanoma_probability__isnull=False
        )
        latest: dict[int, int] = {}
        for pk, lesion_id in done.order_by(*LATEST_ORDER).values_list("pk", "image__lesion_id"):
            latest.setdefault(lesion_id, pk)  # the first row of each lesion is its newest
        Prediction.objects.filter(image__lesion_id__in=lesion_ids, lesion_latest=True).exclude(
            pk__in=list(latest.values())
        ).update(lesion_latest=False)
        # A current result carries its lesion's pending biopsy (triage/reviews.py::biopsy_pending_refresh keeps it
        # under the same lock), so that the awaiting-biopsy queue is one index range too.
        Prediction.objects.filter(pk__in=list(latest.values())).update(
            lesion_latest=True,
            biopsy_pending=models.Case(
                models.When(pk__in=[pk for lesion, pk in latest.items() if lesion in pending], then=True),
                default=False,
            ),
        )


def patient_outliers_refresh(*, lesion_ids) -> None:
    """Store each lesion's within-patient outlier score (`Prediction.outlier_score`) for these lesions' patients: the
    score the case history shows (classifier.selectors.lesion_outliers, the one definition), on the result it
    was computed from; every other result of the patient is cleared. Run after a result is stored, in the same
    transaction: each patient's row is locked (in id order) while it is recomputed, so of two results for one
    patient stored at once the later commit sees the earlier and the stored scores are those of all results."""
    from django.db import transaction

    from portal.records.models import Lesion, Patient

    from .selectors import lesion_outliers

    patient_ids = sorted(
        set(Lesion.objects.filter(pk__in=[i for i in lesion_ids if i is not None]).values_list("patient_id", flat=True))
    )
    if not patient_ids:
        return
    # No savepoint inside a caller's transaction (a round trip each way; a failure fails the caller anyway).
    with transaction.atomic(savepoint=False):
        # FOR NO KEY UPDATE, here and on the lesion: they serialise two refreshes of one patient or lesion, and
        # never block the FOR KEY SHARE an upload's deferred foreign-key checks take at commit. With FOR UPDATE
        # an upload (patient row updated, then at commit its check on the lesion) and a worker (lesion locked,
        # then the patient) deadlocked (tests/reliability item 10). All patients in one statement, in id order.
        list(Patient.objects.select_for_update(no_key=True).filter(pk__in=patient_ids).order_by("pk").values_list("pk"))
        scores = {o.prediction_id: o.score for o in lesion_outliers(patient_ids=patient_ids).values()}
        Prediction.objects.filter(image__lesion__patient_id__in=patient_ids, outlier_score__isnull=False).exclude(
            pk__in=list(scores)
        ).update(outlier_score=None)
        Prediction.objects.bulk_update(
            [Prediction(pk=pk, outlier_score=score) for pk, score in scores.items()], ["outlier_score"]
        )
