"""A clinic's own operating point: its recorded outcomes for the images a model version analysed
give a local validation report and, when there are enough of them, a recalibration and a referral
threshold for that clinic. Predictions of that clinic with that version then use them.

How many outcomes are enough, at target sensitivity s:
- melanomas ≥ max(20, ⌈1 / (1 − s)⌉). The threshold is the ⌈s·k⌉-th highest melanoma score of the
  k melanomas; below 1 / (1 − s) (20 at s = 0.95) that is every melanoma, so the "threshold" is the
  lowest melanoma score seen and the target is not estimated at all. At k = 20 with 19 caught,
  the 95% Clopper-Pearson interval of the sensitivity is still 0.751–0.999: the report shows it.
- melanomas and benign lesions ≥ 20 each: the recalibration is logistic (Platt, two parameters), and
  about 10 events per parameter is the least for a stable logistic fit (Peduzzi et al., 1996).
"""

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import OuterRef, Subquery

from portal.accounts.models import Clinic
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError
from portal.records.models import Outcome
from portal.records.vocabulary import Diagnosis

from .inference.scoring import log_odds, recalibrate
from .models import ClinicOperatingPoint, ModelVersion, Prediction

logger = logging.getLogger(__name__)

DEFAULT_TARGET_SENSITIVITY = 0.95
MIN_PER_CLASS = 20


def outcomes_needed(*, target_sensitivity: float) -> tuple[int, int]:
    """(melanomas, benign) a fit at this target needs; see the module's docstring."""
    # Rounded first: 1 / (1 − 0.95) is 20.000000000000018 in floating point.
    return max(MIN_PER_CLASS, math.ceil(round(1 / (1 - target_sensitivity), 9))), MIN_PER_CLASS


@dataclass(frozen=True)
class Decision:
    probability: float
    threshold: float
    operating_point: ClinicOperatingPoint | None


def operating_point_active(*, clinic_id: int, model_version: ModelVersion) -> ClinicOperatingPoint | None:
    return ClinicOperatingPoint.objects.filter(clinic_id=clinic_id, model_version=model_version, is_active=True).first()


_LOOK_UP = object()


def risk_decide(
    *, clinic_id: int, model_version: ModelVersion, probability: float, point: ClinicOperatingPoint | None = _LOOK_UP
) -> Decision:
    """The probability and threshold a prediction's risk is decided on: the clinic's operating
    point for the version when it has an active one, else the version's own. `point`: that operating point
    (None: the clinic has none) when the caller has looked it up already, e.g. once for a whole chunk."""
    if point is _LOOK_UP:
        point = operating_point_active(clinic_id=clinic_id, model_version=model_version)
    if point is None:
        return Decision(probability, model_version.threshold, None)
    return Decision(float(recalibrate(np.array([probability]), point.calibration)[0]), point.threshold, point)


@dataclass(frozen=True)
class _Cases:
    melanoma: np.ndarray
    probability: np.ndarray
    patients: list[int]


def _cases(*, clinic, model_version: ModelVersion) -> _Cases:
    """Every finished prediction of the version on the clinic's images whose lesion has a recorded
    outcome with a diagnosis; the latest outcome counts. Probabilities are the version's own."""
    latest = (
        Outcome.objects.filter(lesion=OuterRef("image__lesion"))
        .exclude(diagnosis=Diagnosis.UNKNOWN)
        .order_by("-date", "-id")
        .values("diagnosis")[:1]
    )
    rows = list(
        Prediction.objects.filter(
            model_version=model_version,
            image__clinic=clinic,
            status=Prediction.Status.DONE,
            model_probability__isnull=False,
        )
        .annotate(diagnosis=Subquery(latest))
        .filter(diagnosis__isnull=False)
        .order_by("pk")
        .values_list("model_probability", "diagnosis", "image__lesion__patient_id")
    )
    return _Cases(
        melanoma=np.array([d == Diagnosis.MELANOMA for _, d, _ in rows], dtype=int),
        probability=np.array([p for p, _, _ in rows], dtype=float),
        patients=[patient for _, _, patient in rows],
    )


def _json_safe(value):
    """PostgreSQL's jsonb has no NaN: a metric that is undefined on these cases is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def operating_point_fit(
    *,
    clinic,
    model_version: ModelVersion,
    target_sensitivity: float = DEFAULT_TARGET_SENSITIVITY,
    actor=None,
    dry_run: bool = False,
) -> ClinicOperatingPoint:
    """Fits, stores and activates the clinic's operating point for the version (the previous one
    is deactivated in the same transaction). Refuses, and leaves what is in use alone, when there
    are too few outcomes or the score does not rise with melanoma at this clinic. `dry_run`
    returns the unsaved point with its report."""
    # scipy and scikit-learn: imported where a fit runs, never by the inference worker.
    from .inference import metrics
    from .inference.plots import reliability_plot

    if not 0.5 <= target_sensitivity < 1:
        raise ApplicationError(
            "The target sensitivity must be at least 0.5 and below 1.",
            code="invalid_target",
            fields={"target_sensitivity": ["Between 0.5 and 1 (exclusive)."]},
        )
    cases = _cases(clinic=clinic, model_version=model_version)
    melanomas = int(cases.melanoma.sum())
    benign = len(cases.melanoma) - melanomas
    need_melanomas, need_benign = outcomes_needed(target_sensitivity=target_sensitivity)
    if melanomas < need_melanomas or benign < need_benign:
        raise ApplicationError(
            f"Too few confirmed outcomes: {melanomas} melanoma and {benign} benign for images that model version "
            f"{model_version.pk} analysed at clinic {clinic.pk}; an operating point at sensitivity "
            f"{target_sensitivity:.2f} needs at least {need_melanomas} melanoma and {need_benign} benign. "
            f"The global threshold ({model_version.threshold:.3f}) stays in use.",
            code="too_few_outcomes",
        )
    calibration = metrics.fit_platt(log_odds(cases.probability), cases.melanoma)
    if calibration["a"] <= 0:
        raise ApplicationError(
            f"The model's score does not rise with melanoma at clinic {clinic.pk} (ROC AUC "
            f"{metrics.roc_auc(cases.melanoma, cases.probability):.3f}); a local calibration would invert it. "
            f"The global threshold ({model_version.threshold:.3f}) stays in use.",
            code="score_not_discriminating",
        )
    local = recalibrate(cases.probability, calibration)
    threshold = metrics.threshold_for_sensitivity(cases.melanoma, local, target_sensitivity)

    def measured(probability, at):
        return metrics.binary_report(
            cases.melanoma,
            probability,
            threshold=at,
            groups=cases.patients,
            n_bootstrap=settings.NAEVUS_OPERATING_POINT_BOOTSTRAP,
        )

    report = _json_safe(
        {
            "n": len(cases.melanoma),
            "melanomas": melanomas,
            "benign": benign,
            "patients": len(set(cases.patients)),
            "target_sensitivity": target_sensitivity,
            "minimum": {"melanomas": need_melanomas, "benign": need_benign},
            # In-sample: the local threshold is chosen on these same cases, so its sensitivity
            # reaches the target by construction; the intervals say how far that carries.
            "global": measured(cases.probability, model_version.threshold),
            "local": measured(local, threshold),
        }
    )
    point = ClinicOperatingPoint(
        clinic=clinic,
        model_version=model_version,
        calibration=calibration,
        threshold=threshold,
        target_sensitivity=target_sensitivity,
        report=report,
        created_by=actor,
    )
    if dry_run:
        return point
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reliability.png"
        reliability_plot(
            cases.melanoma,
            cases.probability,
            local,
            path,
            title=f"Reliability at clinic {clinic.pk} (n = {len(cases.melanoma)})",
            labels=("model version", "clinic operating point"),
        )
        with open(path, "rb") as fh:
            point.reliability_plot.save(f"{clinic.pk}/{model_version.pk}-reliability.png", File(fh), save=False)
    with transaction.atomic():
        # Two fits for one clinic at once: the second waits, then replaces the first.
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        ClinicOperatingPoint.objects.filter(clinic=clinic, model_version=model_version, is_active=True).update(
            is_active=False
        )
        point.save()
        audit_record(user=actor, action=Action.EXECUTE, object_type="operating_point_fit", object_id=point.pk)
    logger.info(
        "operating point %s fitted for clinic %s, model version %s (n=%d)",
        point.pk,
        clinic.pk,
        model_version.pk,
        len(cases.melanoma),
    )
    return point


def operating_point_deactivate(*, operating_point: ClinicOperatingPoint, actor=None) -> ClinicOperatingPoint:
    """Back to the version's global calibration and threshold for new predictions of the clinic."""
    with transaction.atomic():
        ClinicOperatingPoint.objects.filter(pk=operating_point.pk).update(is_active=False)
        audit_record(
            user=actor, action=Action.EXECUTE, object_type="operating_point_deactivate", object_id=operating_point.pk
        )
    operating_point.refresh_from_db()
    return operating_point
