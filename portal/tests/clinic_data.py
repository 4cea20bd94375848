"""One clinic's worth of every kind of row, each carrying text that no other clinic's rows contain, for
the access tests (test_access.py, test_admin_access.py): a page or response that shows any of those
`markers` has leaked, and `clinic_state` changes if anything of the clinic is touched or attached to."""

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import timezone

from classifier.models import BatchJob, BatchRejectedFile, ClinicOperatingPoint, Prediction
from portal.accounts.models import Invitation, Membership
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.records.models import Lesion, LesionImage, Outcome, Patient
from triage.models import Review, ReviewPolicy
from webhooks.models import Delivery, Endpoint

from .factories import LesionFactory, LesionImageFactory, PatientFactory, png_bytes


@dataclass
class ClinicData:
    clinic: object
    user: object
    patient: Patient
    lesion: Lesion
    image: LesionImage
    outcome: Outcome
    prediction: Prediction
    batch: BatchJob
    invitation: Invitation
    operating_point: ClinicOperatingPoint
    review: Review
    markers: list[str] = field(default_factory=list)
    webhook_rows: list = field(default_factory=list)

    def ids(self) -> dict[str, int]:
        """By route kwarg name."""
        return {
            "patient_id": self.patient.pk,
            "lesion_id": self.lesion.pk,
            "image_id": self.image.pk,
            "prediction_id": self.prediction.pk,
            "batch_id": self.batch.pk,
            "operating_point_id": self.operating_point.pk,
            "review_id": self.review.pk,
        }

    def objects(self) -> list:
        return [
            self.patient, self.lesion, self.image, self.outcome, self.prediction, self.batch, self.invitation,
            self.operating_point, self.review, self.review.prediction, self.clinic.review_policy, self.user,
            self.user.membership, self.clinic, *self.webhook_rows,
        ]  # fmt: skip


def clinic_data_create(*, clinic, user, tag: str, model_version) -> ClinicData:
    """`tag` (e.g. "Alder") goes into every free-text field, so that it shows wherever the data does."""
    clinic.name = f"{tag} Skin Clinic"
    clinic.save(update_fields=["name"])
    patient = PatientFactory(clinic=clinic, mrn=f"{tag.upper()}-MRN-4417", name=f"{tag} Quillfeather")
    lesion = LesionFactory(patient=patient, label=f"{tag} lesion behind the left ear")
    image = LesionImageFactory(
        lesion=lesion, original_name=f"{tag.lower()}-scan.jpg", sha256=hashlib.sha256(tag.encode()).hexdigest()
    )
    outcome = Outcome.objects.create(
        lesion=lesion,
        diagnosis="melanoma",
        benign_malignant="malignant",
        date=dt.date(2026, 1, 5),
        notes=f"{tag} biopsy notes",
        recorded_by=user,
    )
    batch = BatchJob.objects.create(
        clinic=clinic, created_by=user, model_version=model_version, total=2, name=f"{tag} batch"
    )
    prediction = Prediction.objects.create(
        image=image,
        model_version=model_version,
        batch=batch,
        requested_by=user,
        image_sha256=image.sha256,
        status=Prediction.Status.DONE,
        melanoma_probability=0.9,
        risk_category=Prediction.Risk.REFER,
        threshold=0.3,
        quality_reasons=["blurred"],
        quality_measures={"sharpness": 3.0},
        error=f"{tag} prediction note",
    )
    prediction.heatmap.save("heatmap.png", ContentFile(png_bytes()))
    BatchRejectedFile.objects.create(batch=batch, file_name=f"{tag.lower()}-rejected.jpg", reason="not an image")
    invitation = Invitation.objects.create(clinic=clinic, email=f"{tag.lower()}.invitee@example.org", invited_by=user)
    operating_point = ClinicOperatingPoint.objects.create(
        clinic=clinic,
        model_version=model_version,
        calibration={"method": "platt", "a": 1.0, "b": 0.0},
        threshold=0.3,
        target_sensitivity=0.95,
        report={
            "n": 120,
            "melanomas": 30,
            "benign": 90,
            "patients": 100,
            "target_sensitivity": 0.95,
            "minimum": {"melanomas": 20, "benign": 20},
            "global": {"threshold": 0.3, "roc_auc": 0.81, "sensitivity": 0.9, "specificity": 0.5, "ece": 0.1},
            "local": {"threshold": 0.25, "roc_auc": 0.81, "sensitivity": 0.95, "specificity": 0.45, "ece": 0.05},
        },
        created_by=user,
    )
    operating_point.reliability_plot.save("reliability.png", ContentFile(png_bytes()))
    # A draft read of the lesion's earlier visit (its own result), so that the reviews routes have a review
    # to open, edit, sign and amend while the visit above is still unread.
    earlier = LesionImageFactory(lesion=lesion, sha256=hashlib.sha256(f"{tag} earlier".encode()).hexdigest())
    earlier_prediction = Prediction.objects.create(
        image=earlier,
        model_version=model_version,
        image_sha256=earlier.sha256,
        status=Prediction.Status.DONE,
        melanoma_probability=0.2,
        risk_category=Prediction.Risk.ROUTINE,
        threshold=0.3,
    )
    review = Review.objects.create(
        clinic=clinic,
        prediction=earlier_prediction,
        reader=user,
        kind="first",
        assessment="benign",
        management="discharge",
        notes=f"{tag} review notes",
        agrees_with_model=True,
        model_risk="routine",
    )
    ReviewPolicy.objects.create(clinic=clinic, second_read_share=0.25)
    audit_record(user=user, action=Action.READ, object_type="patient", object_id=patient.pk, patient_id=patient.pk)
    markers = [
        clinic.name, patient.mrn, patient.name, lesion.label, image.original_name, image.sha256, outcome.notes,
        batch.name, prediction.error, f"{tag.lower()}-rejected.jpg", invitation.email, user.email, review.notes,
    ]  # fmt: skip
    endpoint = Endpoint.objects.create(
        clinic=clinic, url=f"https://{tag.lower()}-it.example.org/naevus", events=["prediction.refer"]
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint,
        event="prediction.refer",
        payload={"id": f"{tag.lower()}-delivery", "data": {"prediction_id": prediction.pk}},
        next_attempt_at=timezone.now(),
    )
    markers += [endpoint.url, endpoint.secret, f"{tag.lower()}-delivery"]
    return ClinicData(
        clinic, user, patient, lesion, image, outcome, prediction, batch, invitation, operating_point, review, markers,
        [endpoint, delivery],
    )  # fmt: skip


def clinic_state(clinic) -> dict:
    """Every row that belongs to `clinic` or points into it, as plain values."""
    User = get_user_model()
    images = Q(clinic=clinic) | Q(lesion__patient__clinic=clinic)
    querysets = {
        "patients": Patient.objects.filter(clinic=clinic),
        "lesions": Lesion.objects.filter(patient__clinic=clinic),
        "images": LesionImage.objects.filter(images),
        "outcomes": Outcome.objects.filter(lesion__patient__clinic=clinic),
        "predictions": Prediction.objects.filter(
            Q(image__clinic=clinic) | Q(image__lesion__patient__clinic=clinic) | Q(batch__clinic=clinic)
        ),
        "batches": BatchJob.objects.filter(clinic=clinic),
        "rejected": BatchRejectedFile.objects.filter(batch__clinic=clinic),
        "invitations": Invitation.objects.filter(clinic=clinic),
        "memberships": Membership.objects.filter(clinic=clinic),
        "operating_points": ClinicOperatingPoint.objects.filter(clinic=clinic),
        "users": User.objects.filter(membership__clinic=clinic),
        "reviews": Review.objects.filter(Q(clinic=clinic) | Q(prediction__image__clinic=clinic)),
        "review_policies": ReviewPolicy.objects.filter(clinic=clinic),
        "webhook_endpoints": Endpoint.objects.filter(clinic=clinic),
        "webhook_deliveries": Delivery.objects.filter(endpoint__clinic=clinic),
    }
    return {name: list(qs.distinct().order_by("pk").values()) for name, qs in querysets.items()}


def leaked(text: str, data: ClinicData) -> list[str]:
    return [marker for marker in data.markers if marker in text]
