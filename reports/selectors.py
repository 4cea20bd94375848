"""The reads behind every report and export: scoped to the user's clinic (another clinic's id is a missing one,
404, audited as denied) and audited as a read of the document, like every read of patient data. The reviews
are the ones the user may see (triage's blind-reading rule), signed ones only: a draft is nobody's word yet."""

from dataclasses import dataclass, field

from django.db.models import Prefetch

from classifier.inference.quality import REASON_LABELS
from classifier.models import Prediction
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError
from portal.records.models import Lesion, LesionImage, Patient
from portal.records.selectors import _deny, clinic_filter, patient_get
from triage.models import Management, Review
from triage.selectors import reads_of, review_get


@dataclass
class Visit:
    """One lesion visit: one image's analysis (a done prediction) and the signed reads of it."""

    prediction: Prediction
    reviews: list[Review] = field(default_factory=list)
    state: str = "unreviewed"
    withheld: int = 0

    @property
    def image(self) -> LesionImage:
        return self.prediction.image

    @property
    def lesion(self) -> Lesion:
        return self.prediction.image.lesion

    @property
    def patient(self) -> Patient:
        return self.prediction.image.lesion.patient

    @property
    def current_reviews(self) -> list[Review]:
        return [r for r in self.reviews if r.is_current]

    @property
    def quality_advice(self) -> str:
        """The quality gate's reasons as the SPA words them ("lesion too small in the frame"), not their codes."""
        return ", ".join(REASON_LABELS.get(reason, reason) for reason in self.prediction.quality_reasons or [])


def _visit(*, user, prediction: Prediction) -> Visit:
    reads = reads_of(user=user, prediction=prediction)
    signed = [r for r in reads["reviews"] if r.signed_at]
    return Visit(prediction=prediction, reviews=signed, state=reads["state"], withheld=reads["withheld"])


def _done(prediction: Prediction) -> None:
    if prediction.status != Prediction.Status.DONE or prediction.melanoma_probability is None:
        raise ApplicationError(
            f"This image's analysis is {prediction.status}: there is no result to report yet.",
            code="not_analysed",
            status=409,
        )


def visit_get(*, user, prediction_id, object_type: str) -> Visit:
    """`object_type` names the document in the audit trail (visit_report, visit_fhir). 409 when the analysis
    is not done or the image belongs to no patient (an unmapped batch image)."""
    prediction = (
        Prediction.objects.select_related(
            "model_version", "operating_point", "image__lesion__patient__clinic", "image__clinic"
        )
        .filter(clinic_filter(user=user, field="image__clinic"), pk=prediction_id)
        .first()
    )
    if prediction is None:
        raise _deny(user=user, object_type=object_type, object_id=prediction_id, action=Action.READ)
    if prediction.image.lesion_id is None:
        raise ApplicationError(
            "This image is not attached to a patient's lesion: map it to one first.", code="no_lesion", status=409
        )
    _done(prediction)
    visit = _visit(user=user, prediction=prediction)
    audit_record(
        user=user, action=Action.READ, object_type=object_type, object_id=prediction.pk, patient_id=visit.patient.pk
    )
    return visit


@dataclass
class PatientReport:
    patient: Patient
    lesions: list[tuple[Lesion, list[Visit]]]


def patient_report(*, user, patient_id) -> PatientReport:
    """Every lesion of the patient, each with its analysed visits (newest first) and their signed reads."""
    patient = patient_get(user=user, patient_id=patient_id, audit=False)
    done = Prediction.objects.filter(status=Prediction.Status.DONE, melanoma_probability__isnull=False)
    images = LesionImage.objects.order_by("-uploaded_at", "-id").prefetch_related(
        Prefetch("predictions", queryset=done.select_related("model_version", "operating_point").order_by("-id"))
    )
    lesions = (
        Lesion.objects.filter(patient=patient)
        .select_related("patient__clinic")
        .order_by("created_at", "id")
        .prefetch_related(Prefetch("images", queryset=images))
    )
    report = PatientReport(patient=patient, lesions=[])
    for lesion in lesions:
        visits = []
        for image in lesion.images.all():
            for prediction in image.predictions.all():
                image.lesion = lesion  # the prefetched objects, so that a visit's template reads no more rows
                prediction.image = image
                visits.append(_visit(user=user, prediction=prediction))
        report.lesions.append((lesion, visits))
    audit_record(
        user=user, action=Action.READ, object_type="patient_report", object_id=patient.pk, patient_id=patient.pk
    )
    return report


@dataclass
class Referral:
    review: Review
    visit: Visit


def referral_get(*, user, review_id) -> Referral:
    """The letter's review: signed, current (not amended since) and deciding an urgent referral; 409 otherwise,
    so that no letter goes out on a draft or on a decision its reader has since changed."""
    review = review_get(user=user, review_id=review_id, audit=False)
    if review.signed_at is None:
        raise ApplicationError(
            "A referral letter is written from a signed review; sign it first.", code="not_signed", status=409
        )
    if not review.is_current:
        raise ApplicationError(
            "This review has been amended: write the letter from its current version.", code="superseded", status=409
        )
    if review.management != Management.URGENT_REFERRAL:
        raise ApplicationError(
            f"This review decided {review.get_management_display().lower()}, not an urgent referral.",
            code="not_urgent_referral",
            status=409,
        )
    prediction = Prediction.objects.select_related(
        "model_version", "operating_point", "image__lesion__patient__clinic"
    ).get(pk=review.prediction_id)
    visit = _visit(user=user, prediction=prediction)
    audit_record(
        user=user, action=Action.READ, object_type="referral_letter", object_id=review.pk, patient_id=visit.patient.pk
    )
    return Referral(review=next(r for r in visit.reviews if r.pk == review.pk), visit=visit)
