"""Writes to clinical records. Each call is one transaction and one audit row per object touched."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.accounts.selectors import user_clinic
from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError

from .models import Lesion, LesionImage, Outcome, Patient
from .signals import images_uploaded
from .validation import CleanImage, InvalidImage, clean_image, display_name, image_pixels
from .vocabulary import ImageKind

logger = logging.getLogger(__name__)


def _require_clinic(user):
    clinic = user_clinic(user=user)
    if clinic is None:
        raise ApplicationError("Only members of a clinic can create patient records.", code="no_clinic", status=403)
    return clinic


def patient_create(*, user, mrn: str, name: str, sex: str, birth_year: int | None = None, notes: str = "") -> Patient:
    clinic = _require_clinic(user)
    try:
        with transaction.atomic():
            patient = Patient.objects.create(
                clinic=clinic, mrn=mrn.strip(), name=name.strip(), sex=sex, birth_year=birth_year, notes=notes
            )
            audit_record(
                user=user, action=Action.CREATE, object_type="patient", object_id=patient.pk, patient_id=patient.pk
            )
    except IntegrityError:
        raise ApplicationError(
            "A patient with this medical record number already exists in your clinic.",
            code="duplicate_mrn",
            fields={"mrn": ["A patient with this medical record number already exists in your clinic."]},
        ) from None
    return patient


_PATIENT_FIELDS = {"mrn", "name", "sex", "birth_year", "notes"}


def patient_update(*, user, patient: Patient, data: dict) -> Patient:
    changed = [f for f in _PATIENT_FIELDS & data.keys() if getattr(patient, f) != data[f]]
    for field in changed:
        setattr(patient, field, data[field])
    try:
        with transaction.atomic():
            patient.save(update_fields=[*changed, "updated_at"])
            audit_record(
                user=user, action=Action.UPDATE, object_type="patient", object_id=patient.pk, patient_id=patient.pk
            )
    except IntegrityError:
        raise ApplicationError(
            "A patient with this medical record number already exists in your clinic.",
            code="duplicate_mrn",
            fields={"mrn": ["A patient with this medical record number already exists in your clinic."]},
        ) from None
    return patient


def lesion_create(*, user, patient: Patient, anatomic_site: str, label: str = "") -> Lesion:
    with transaction.atomic():
        lesion = Lesion.objects.create(patient=patient, anatomic_site=anatomic_site, label=label)
        audit_record(user=user, action=Action.CREATE, object_type="lesion", object_id=lesion.pk, patient_id=patient.pk)
    return lesion


class RecordMissing(ApplicationError):
    """A batch file is mapped to a patient or lesion that does not exist and may not be created."""

    def __init__(self, message: str):
        super().__init__(message, code="record_missing", status=400)


def lesion_for_mapping(
    *, user, clinic, mrn: str, patient_name: str, label: str, anatomic_site: str, create_missing: bool
) -> Lesion:
    """The clinic's lesion a batch mapping row names (patient by MRN, lesion by label and site). With
    ``create_missing`` the patient and the lesion are created, each with its audit row; ``user`` may be
    None (``manage.py analyze``). Runs inside the caller's transaction."""
    patient = Patient.objects.filter(clinic=clinic, mrn=mrn).first()
    if patient is None:
        if not create_missing:
            raise RecordMissing(f"no patient with MRN {mrn!r} in your clinic")
        patient = Patient.objects.create(clinic=clinic, mrn=mrn, name=patient_name or mrn)
        audit_record(
            user=user, action=Action.CREATE, object_type="patient", object_id=patient.pk, patient_id=patient.pk
        )
    lesion = Lesion.objects.filter(patient=patient, label=label, anatomic_site=anatomic_site).first()
    if lesion is None:
        if not create_missing:
            raise RecordMissing(f"patient {mrn!r} has no lesion labelled {label!r}")
        lesion = Lesion.objects.create(patient=patient, label=label, anatomic_site=anatomic_site)
        audit_record(user=user, action=Action.CREATE, object_type="lesion", object_id=lesion.pk, patient_id=patient.pk)
    return lesion


def patient_visited(*, patient_id: int) -> None:
    """A new image of this patient arrived: the patient list sorts by it."""
    Patient.objects.filter(pk=patient_id).update(last_visit=timezone.now())


def lesion_update(*, user, lesion: Lesion, data: dict) -> Lesion:
    changed = [f for f in ("anatomic_site", "label") if f in data]
    for field in changed:
        setattr(lesion, field, data[field])
    with transaction.atomic():
        lesion.save(update_fields=changed)
        audit_record(
            user=user, action=Action.UPDATE, object_type="lesion", object_id=lesion.pk, patient_id=lesion.patient_id
        )
    return lesion


def outcome_record(*, user, lesion: Lesion, diagnosis: str, benign_malignant: str, date, notes: str = "") -> Outcome:
    with transaction.atomic():
        outcome = Outcome.objects.create(
            lesion=lesion,
            diagnosis=diagnosis,
            benign_malignant=benign_malignant,
            date=date,
            notes=notes,
            recorded_by=user,
        )
        audit_record(
            user=user, action=Action.CREATE, object_type="outcome", object_id=outcome.pk, patient_id=lesion.patient_id
        )
    return outcome


@dataclass
class Upload:
    """An uploaded file as the API hands it over: a stream, its size and the client's name."""

    stream: object
    size: int
    name: str


def images_validate(*, uploads: list[Upload]) -> list[CleanImage]:
    """All or nothing: the first bad file refuses the request, naming the file."""
    if len(uploads) > settings.NAEVUS_MAX_FILES_PER_REQUEST:
        raise InvalidImage(
            f"At most {settings.NAEVUS_MAX_FILES_PER_REQUEST} files per request; use a batch (zip) for more.",
            code="too_many_files",
        )
    pixels = sum(image_pixels(upload.stream) for upload in uploads)
    if pixels > settings.NAEVUS_MAX_REQUEST_PIXELS:
        raise InvalidImage(
            f"These {len(uploads)} images have {pixels:,} pixels together, more than the limit of "
            f"{settings.NAEVUS_MAX_REQUEST_PIXELS:,} per request; send fewer at a time or use a batch.",
            code="request_too_many_pixels",
        )
    cleaned = []
    for upload in uploads:
        try:
            cleaned.append(
                clean_image(
                    upload.stream,
                    size=upload.size,
                    max_bytes=settings.NAEVUS_MAX_UPLOAD_BYTES,
                    max_pixels=settings.NAEVUS_MAX_IMAGE_PIXELS,
                )
            )
        except InvalidImage as exc:
            name = display_name(upload.name)
            raise InvalidImage(f"{name}: {exc.message}", code=exc.code) from None
    return cleaned


def images_store(
    *,
    user,
    clinic,
    cleaned: list[tuple[CleanImage, str]],
    lesion: Lesion | None,
    kind: str = ImageKind.DERMOSCOPIC,
    captured_at: datetime | None = None,
) -> list[LesionImage]:
    """Stores validated images (with their display names) under random names. Must run inside the
    caller's transaction; files written before a rollback are removed by `files_discard`."""
    images = []
    for clean, name in cleaned:
        image = LesionImage(
            clinic=clinic,
            lesion=lesion,
            content_type=clean.content_type,
            sha256=hashlib.sha256(clean.content).hexdigest(),
            width=clean.display_size[0],
            height=clean.display_size[1],
            orientation=clean.orientation,
            kind=kind,
            captured_at=captured_at,
            uploaded_by=user,
            original_name=display_name(name),
        )
        image.file.save(f"upload.{clean.extension}", ContentFile(clean.content), save=False)
        images.append(image)
    LesionImage.objects.bulk_create(images)
    return images


def files_discard(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not remove an orphaned upload after a rollback")


def lesion_images_upload(
    *, user, lesion: Lesion, uploads: list[Upload], kind: str = ImageKind.DERMOSCOPIC, captured_at=None
) -> list[LesionImage]:
    if not uploads:
        raise ApplicationError("Choose at least one image.", code="no_files", fields={"files": ["No file was sent."]})
    cleaned = images_validate(uploads=uploads)
    images: list[LesionImage] = []
    try:
        with transaction.atomic():
            images = images_store(
                user=user,
                clinic=lesion.patient.clinic,
                cleaned=list(zip(cleaned, [u.name for u in uploads], strict=True)),
                lesion=lesion,
                kind=kind,
                captured_at=captured_at,
            )
            patient_visited(patient_id=lesion.patient_id)
            for image in images:
                audit_record(
                    user=user,
                    action=Action.CREATE,
                    object_type="image",
                    object_id=image.pk,
                    patient_id=lesion.patient_id,
                )
            images_uploaded.send(sender=LesionImage, user=user, images=images)
    except Exception:
        files_discard([image.file.name for image in images if image.file.name])
        raise
    logger.info("stored %d image(s) for lesion %s", len(images), lesion.pk)
    return images
