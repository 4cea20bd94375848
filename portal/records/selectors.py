"""Every read of patient data goes through here: scoped to the user's clinic, audited.
Another clinic's object is indistinguishable from a missing one (404)."""

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from portal.accounts.selectors import user_clinic
from portal.audit.models import Action, Outcome
from portal.audit.services import audit_record

from .models import Lesion, LesionImage, Patient
from .models import Outcome as ClinicalOutcome


def clinic_filter(*, user, field: str) -> Q:
    """The Q that limits a queryset to what `user` may see; `field` is the path to the clinic."""
    if user.is_superuser:
        return Q()
    clinic = user_clinic(user=user)
    if clinic is None:
        return Q(pk__in=[])
    return Q(**{field: clinic})


def _deny(*, user, object_type: str, object_id, action: Action) -> Http404:
    """`action` is what the user attempted (a PATCH is a denied update, not a denied read)."""
    audit_record(user=user, action=action, object_type=object_type, object_id=object_id, outcome=Outcome.DENIED)
    return Http404()


def patient_queryset(*, user) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic_filter(user=user, field="clinic"))


def _with_summary(qs: QuerySet[Patient]) -> QuerySet[Patient]:
    """Lesion count and highest current risk: one definition for the list, the detail and the history,
    so that no screen can show a patient as risk-free while another says "refer"."""
    from classifier.models import Prediction

    done = Prediction.objects.filter(
        image__lesion__patient=OuterRef("pk"), status=Prediction.Status.DONE, melanoma_probability__isnull=False
    ).order_by("-melanoma_probability")
    # Correlated subqueries rather than Count("lesions"): a GROUP BY over the whole clinic would be
    # computed before the page is cut (90 ms against 10 ms at 10,000 patients, bench/README.md).
    lesions = Lesion.objects.filter(patient=OuterRef("pk")).order_by().values("patient").annotate(n=Count("*"))
    return qs.annotate(
        lesion_count=Coalesce(Subquery(lesions.values("n")[:1]), 0),
        top_probability=Subquery(done.values("melanoma_probability")[:1]),
        top_risk=Subquery(done.values("risk_category")[:1]),
        top_model_version_id=Subquery(done.values("model_version_id")[:1]),
    )


def patient_list(*, user, search: str = "") -> QuerySet[Patient]:
    qs = patient_queryset(user=user)
    if search:
        qs = qs.filter(Q(mrn__icontains=search) | Q(name__icontains=search))
    audit_record(user=user, action=Action.READ, object_type="patient_list", object_id="")
    return _with_summary(qs).order_by("-last_visit", "-created_at", "-id")


def patient_get(*, user, patient_id, audit: bool = True, action: Action = Action.READ) -> Patient:
    patient = _with_summary(patient_queryset(user=user)).filter(pk=patient_id).first()
    if patient is None:
        raise _deny(user=user, object_type="patient", object_id=patient_id, action=action)
    if audit:
        audit_record(user=user, action=Action.READ, object_type="patient", object_id=patient.pk, patient_id=patient.pk)
    return patient


def patient_history(*, user, patient_id) -> Patient:
    """The patient with lesions → images → predictions → outcomes prefetched, newest first, in a fixed
    number of queries whatever the size."""
    from classifier.models import Prediction
    from classifier.selectors import lesion_outliers

    patient = patient_get(user=user, patient_id=patient_id, audit=False)
    predictions = Prediction.objects.select_related("model_version").defer("embedding").order_by("-created_at", "-id")
    images = LesionImage.objects.order_by("-uploaded_at", "-id").prefetch_related(
        Prefetch("predictions", queryset=predictions)
    )
    lesions = (
        Lesion.objects.filter(patient=patient)
        .order_by("-created_at", "-id")
        .prefetch_related(
            Prefetch("images", queryset=images),
            Prefetch("outcomes", queryset=ClinicalOutcome.objects.order_by("-date", "-id")),
        )
    )
    patient.history_lesions = list(lesions)
    outliers = lesion_outliers(patient_ids=[patient.pk])
    for lesion in patient.history_lesions:
        lesion.outlier = outliers.get(lesion.pk)
    audit_record(
        user=user, action=Action.READ, object_type="patient_history", object_id=patient.pk, patient_id=patient.pk
    )
    return patient


def lesion_list(*, user, patient_id) -> list[Lesion]:
    patient = patient_get(user=user, patient_id=patient_id, audit=False)
    audit_record(user=user, action=Action.READ, object_type="lesion_list", object_id=patient.pk, patient_id=patient.pk)
    return list(patient.lesions.order_by("-created_at", "-id"))


def lesion_get(*, user, lesion_id, audit: bool = True, action: Action = Action.READ) -> Lesion:
    lesion = (
        Lesion.objects.select_related("patient")
        .filter(clinic_filter(user=user, field="patient__clinic"), pk=lesion_id)
        .first()
    )
    if lesion is None:
        raise _deny(user=user, object_type="lesion", object_id=lesion_id, action=action)
    if audit:
        audit_record(
            user=user, action=Action.READ, object_type="lesion", object_id=lesion.pk, patient_id=lesion.patient_id
        )
    return lesion


def image_queryset(*, user) -> QuerySet[LesionImage]:
    return LesionImage.objects.filter(clinic_filter(user=user, field="clinic"))


def image_get(
    *, user, image_id, audit: bool = True, object_type: str = "image", action: Action = Action.READ
) -> LesionImage:
    from classifier.models import Prediction

    image = (
        image_queryset(user=user)
        .select_related("lesion")
        .prefetch_related(Prefetch("predictions", queryset=Prediction.objects.select_related("model_version")))
        .filter(pk=image_id)
        .first()
    )
    if image is None:
        raise _deny(user=user, object_type=object_type, object_id=image_id, action=action)
    if audit:
        audit_record(
            user=user,
            action=Action.READ,
            object_type=object_type,
            object_id=image.pk,
            patient_id=image.lesion.patient_id if image.lesion_id else None,
        )
    return image
