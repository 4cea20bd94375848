"""Writes of reviews. Each call is one transaction with its audit row. Only clinicians of the result's clinic
read; a signed review is never changed (an amendment is a new signed row); the second-read rules are enforced
here, at signing, under a lock on the result, so that two readers signing at once cannot both be "first"."""

from django.db import transaction
from django.utils import timezone

from classifier.models import Prediction
from classifier.signals import send_after_commit
from portal.accounts.models import Role
from portal.accounts.selectors import user_membership
from portal.audit.models import Action
from portal.audit.models import Outcome as AuditOutcome
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError

from .models import FOLLOW_UP_KINDS, ReadKind, Review, ReviewPolicy
from .reviews import current_reviews, model_agrees, results_lock, share_draw, state_of
from .signals import review_signed

CONTENT = ("assessment", "management", "follow_up_date", "notes")


def _patient_id(prediction: Prediction) -> int | None:
    return prediction.image.lesion.patient_id if prediction.image.lesion_id else None


def _require_clinician(*, user, prediction: Prediction) -> None:
    membership = user_membership(user=user)
    if membership is None or membership.role != Role.CLINICIAN or membership.clinic_id != prediction.image.clinic_id:
        raise ApplicationError("Only clinicians of this clinic review its results.", code="not_a_clinician", status=403)


def _clean(data: dict) -> dict:
    """A follow-up decision has its date, today or later; no other decision has one."""
    management, date = data.get("management"), data.get("follow_up_date")
    if management in FOLLOW_UP_KINDS:
        if date is None:
            raise ApplicationError(
                "A follow-up decision needs its date.",
                code="invalid",
                fields={"follow_up_date": ["Required for routine follow-up and short-term monitoring."]},
            )
        if date < timezone.localdate():
            raise ApplicationError(
                "The follow-up date is in the past.", code="invalid", fields={"follow_up_date": ["In the past."]}
            )
    elif date is not None:
        raise ApplicationError(
            "Only a follow-up decision has a date.",
            code="invalid",
            fields={"follow_up_date": ["Only routine follow-up and short-term monitoring have a date."]},
        )
    return data


def _reads(prediction: Prediction) -> dict[str, Review]:
    return {review.kind: review for review in current_reviews().filter(prediction=prediction)}


def _kind_for(*, user, prediction: Prediction, consensus: bool) -> str:
    """Which read this user may add to this result now; 409 when none."""
    reads = _reads(prediction)
    state = state_of(list(reads.values()))
    readers = {review.reader_id for review in reads.values()}
    if state == "unreviewed":
        return ReadKind.FIRST
    if state == "awaiting_second_read":
        if reads[ReadKind.FIRST].reader_id == user.pk:
            raise ApplicationError("The first reader cannot be the second.", code="same_reader", status=409)
        return ReadKind.SECOND
    if state == "disagreement":
        if consensus:
            return ReadKind.CONSENSUS
        if user.pk in readers:
            raise ApplicationError(
                "A third read is by a clinician who has not read this result; its readers write a consensus note.",
                code="same_reader",
                status=409,
            )
        return ReadKind.THIRD
    raise ApplicationError(
        "This result needs no further read; amend your own read to change it.", code="reads_complete", status=409
    )


def second_read_needed(*, review: Review, policy: ReviewPolicy | None) -> bool:
    policy = policy or ReviewPolicy()
    if policy.second_read_refer and review.model_risk == Prediction.Risk.REFER:
        return True
    if policy.second_read_disagreement and not review.agrees_with_model:
        return True
    return share_draw(review.pk) < policy.second_read_share


def review_create(*, user, prediction: Prediction, data: dict, consensus: bool = False) -> Review:
    """A draft read of `prediction` by `user`; which read (first, second, third, consensus) follows from the
    result's state. The content is the reader's; the agreement with the model is derived."""
    _require_clinician(user=user, prediction=prediction)
    data = _clean({k: data.get(k) for k in CONTENT} | {"notes": data.get("notes") or ""})
    with transaction.atomic():
        results_lock(prediction_ids=[prediction.pk])
        if Review.objects.filter(prediction=prediction, reader=user, signed_at__isnull=True).exists():
            raise ApplicationError("You have an open draft of this result: edit it.", code="open_draft", status=409)
        review = Review.objects.create(
            clinic_id=prediction.image.clinic_id,
            prediction=prediction,
            reader=user,
            kind=_kind_for(user=user, prediction=prediction, consensus=consensus),
            model_risk=prediction.risk_category,
            agrees_with_model=model_agrees(risk=prediction.risk_category, assessment=data["assessment"]),
            **data,
        )
        audit_record(
            user=user,
            action=Action.CREATE,
            object_type="review",
            object_id=review.pk,
            patient_id=_patient_id(prediction),
        )
    return review


def _refuse_signed(*, user, review: Review, action: Action) -> None:
    if review.signed_at is not None:
        audit_record(
            user=user,
            action=action,
            object_type="review",
            object_id=review.pk,
            patient_id=_patient_id(review.prediction),
            outcome=AuditOutcome.DENIED,
        )
        raise ApplicationError("A signed review cannot be changed; amend it instead.", code="signed", status=409)


def review_update(*, user, review: Review, data: dict) -> Review:
    """Edits the user's own draft; a signed review answers 409 (and the attempt is audited)."""
    _refuse_signed(user=user, review=review, action=Action.UPDATE)
    merged = _clean({k: data.get(k, getattr(review, k)) for k in CONTENT})
    with transaction.atomic():
        for field, value in merged.items():
            setattr(review, field, value if value is not None or field == "follow_up_date" else "")
        review.agrees_with_model = model_agrees(risk=review.model_risk, assessment=review.assessment)
        review.save()
        audit_record(
            user=user,
            action=Action.UPDATE,
            object_type="review",
            object_id=review.pk,
            patient_id=_patient_id(review.prediction),
        )
    return review


def _policy(clinic_id: int) -> ReviewPolicy | None:
    return ReviewPolicy.objects.filter(clinic_id=clinic_id).first()


def review_sign(*, user, review: Review) -> Review:
    """Locks the draft. The read it claims is checked again under the result's lock: another reader may have
    signed the first read since this draft was opened (409)."""
    _refuse_signed(user=user, review=review, action=Action.EXECUTE)
    with transaction.atomic():
        results_lock(prediction_ids=[review.prediction_id])
        expected = _kind_for(user=user, prediction=review.prediction, consensus=review.kind == ReadKind.CONSENSUS)
        if expected != review.kind:
            raise ApplicationError(
                f"This result now needs a {ReadKind(expected).label.lower()}; discard this draft.",
                code="read_taken",
                status=409,
            )
        if review.kind == ReadKind.FIRST:
            review.needs_second_read = second_read_needed(review=review, policy=_policy(review.clinic_id))
        review.signed_at = timezone.now()
        review.save(update_fields=["needs_second_read", "signed_at", "updated_at"])
        audit_record(
            user=user,
            action=Action.EXECUTE,
            object_type="review_sign",
            object_id=review.pk,
            patient_id=_patient_id(review.prediction),
        )
        send_after_commit(review_signed, review_id=review.pk)
    return review


def review_amend(*, user, review: Review, data: dict) -> Review:
    """A new signed version of the user's own current read; the old one stays as it was. A first read keeps
    its need of a second read, and gains one if the amendment now meets the policy."""
    if review.signed_at is None:
        raise ApplicationError("A draft is edited, not amended.", code="not_signed", status=409)
    if review.reader_id != user.pk:
        raise ApplicationError("Only its reader amends a review.", code="not_the_reader", status=403)
    _require_clinician(user=user, prediction=review.prediction)
    data = _clean({k: data.get(k) for k in CONTENT} | {"notes": data.get("notes") or ""})
    with transaction.atomic():
        results_lock(prediction_ids=[review.prediction_id])
        if Review.objects.filter(supersedes=review).exists():
            raise ApplicationError("This version has been amended already.", code="superseded", status=409)
        amendment = Review.objects.create(
            clinic_id=review.clinic_id,
            prediction_id=review.prediction_id,
            reader=user,
            kind=review.kind,
            model_risk=review.model_risk,
            agrees_with_model=model_agrees(risk=review.model_risk, assessment=data["assessment"]),
            supersedes=review,
            signed_at=timezone.now(),
            **data,
        )
        if amendment.kind == ReadKind.FIRST:
            amendment.needs_second_read = review.needs_second_read or second_read_needed(
                review=amendment, policy=_policy(review.clinic_id)
            )
            amendment.save(update_fields=["needs_second_read"])
        audit_record(
            user=user,
            action=Action.CREATE,
            object_type="review_amendment",
            object_id=amendment.pk,
            patient_id=_patient_id(review.prediction),
        )
        send_after_commit(review_signed, review_id=amendment.pk)
    return amendment
