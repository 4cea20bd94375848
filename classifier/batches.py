"""Bulk analysis: a zip or many files (optionally a CSV mapping files to patients) become a batch of
predictions. Archive members are read into memory one at a time with bounded reads; no member name
is ever joined to a filesystem path."""

import csv
import io
import logging
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.db import transaction

from portal.audit.models import Action
from portal.audit.services import audit_record
from portal.core.exceptions import ApplicationError, ServiceUnavailable
from portal.records.models import Lesion
from portal.records.services import RecordMissing, files_discard, images_store, lesion_for_mapping, patient_visited
from portal.records.validation import InvalidImage, clean_image, display_name
from portal.records.vocabulary import AnatomicSite

from .models import BatchJob, BatchRejectedFile
from .services import batch_finish_if_complete, model_version_active, predictions_request

logger = logging.getLogger(__name__)


class BadArchive(ApplicationError):
    def __init__(self, message: str):
        super().__init__(message, code="invalid_archive", status=400)


@dataclass
class Member:
    name: str
    data: bytes
    error: str = ""


def _refuse_member(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts or "\x00" in name:
        return f"it contains an unsafe path ({display_name(name)!r})"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "it contains a symbolic link"
    if name.lower().endswith((".zip", ".jar", ".7z", ".rar", ".gz", ".tar")):
        return "it contains another archive (nested archives are not accepted)"
    return None


def zip_members(fileobj) -> list[zipfile.ZipInfo]:
    """Checks the whole central directory before a single byte is inflated."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BadArchive("The file is not a valid zip archive.") from None
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > settings.NAEVUS_MAX_ZIP_ENTRIES:
        raise BadArchive(f"The archive has {len(infos)} files; the limit is {settings.NAEVUS_MAX_ZIP_ENTRIES}.")
    total = 0
    for info in infos:
        reason = _refuse_member(info)
        if reason:
            raise BadArchive(f"The archive was refused: {reason}.")
        if info.file_size > settings.NAEVUS_MAX_UPLOAD_BYTES:
            raise BadArchive(
                f"The archive was refused: a member expands beyond {settings.NAEVUS_MAX_UPLOAD_BYTES} bytes."
            )
        if info.compress_size and info.file_size / info.compress_size > settings.NAEVUS_MAX_ZIP_RATIO:
            raise BadArchive("The archive was refused: it expands suspiciously (a zip bomb?).")
        total += info.file_size
    if total > settings.NAEVUS_MAX_ZIP_BYTES:
        raise BadArchive("The archive was refused: it expands beyond the size limit.")
    # Overlapping members (the "better zip bomb") share compressed data: every member's local header
    # must start after the previous member's data ends.
    spans = sorted((i.header_offset, i.header_offset + len(i.FileHeader()) + i.compress_size) for i in infos)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end - 64:  # local headers may carry extra fields the central directory omits
            raise BadArchive("The archive was refused: its members overlap.")
    return infos


def _is_noise(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def read_members(fileobj) -> tuple[int, Iterator[Member]]:
    """The number of members and a generator reading them one at a time (bounded memory)."""
    infos = [i for i in zip_members(fileobj) if not _is_noise(i.filename)]

    def members():
        archive = zipfile.ZipFile(fileobj)
        for info in infos:
            try:
                with archive.open(info) as fh:
                    data = fh.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
                yield Member(PurePosixPath(info.filename).name, b"", error="the archive member is corrupt")
                continue
            if len(data) > info.file_size:
                yield Member(
                    PurePosixPath(info.filename).name, b"", error="the archive member is larger than it declares"
                )
                continue
            yield Member(PurePosixPath(info.filename).name, data)

    return len(infos), members()


def batch_members(
    *, archive=None, files: Sequence[tuple[str, Callable[[], bytes]]] = ()
) -> tuple[int, Iterator[Member]]:
    """What one batch reads, for the API and `manage.py analyze` alike: a zip archive (its directory checked
    first, members read one at a time), else files as ``(name, read)`` pairs, each read when its turn comes.
    Returns the number of members and the members."""
    if archive is not None:
        return read_members(archive)
    return len(files), (Member(name, read()) for name, read in files)


@dataclass
class MappingRow:
    mrn: str
    patient_name: str
    lesion_label: str
    anatomic_site: str


def parse_mapping(raw: bytes) -> dict[str, MappingRow]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError("The mapping CSV must be UTF-8.", code="invalid_mapping") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "file_name" not in reader.fieldnames or "mrn" not in reader.fieldnames:
        raise ApplicationError(
            "The mapping CSV needs the columns file_name and mrn "
            "(optional: patient_name, lesion_label, anatomic_site).",
            code="invalid_mapping",
        )
    rows = {}
    for row in reader:
        site = (row.get("anatomic_site") or "unknown").strip() or "unknown"
        if site not in AnatomicSite.values:
            raise ApplicationError(f"Unknown anatomic site {site!r} in the mapping CSV.", code="invalid_mapping")
        rows[PurePosixPath((row["file_name"] or "").replace("\\", "/")).name] = MappingRow(
            mrn=(row.get("mrn") or "").strip(),
            patient_name=(row.get("patient_name") or "").strip(),
            lesion_label=(row.get("lesion_label") or "").strip(),
            anatomic_site=site,
        )
    return rows


def _lesion_for(*, user, clinic, row: MappingRow, create_missing: bool, cache: dict) -> Lesion:
    key = (row.mrn, row.lesion_label, row.anatomic_site)
    if key not in cache:
        try:
            cache[key] = lesion_for_mapping(
                user=user,
                clinic=clinic,
                mrn=row.mrn,
                patient_name=row.patient_name,
                label=row.lesion_label,
                anatomic_site=row.anatomic_site,
                create_missing=create_missing,
            )
        except RecordMissing as exc:
            raise InvalidImage(exc.message) from None
    return cache[key]


BATCH_COMMIT_EVERY = 32


def _chunked(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _member_image(*, user, clinic, member: Member, mapping, create_missing: bool, lesion_cache: dict):
    if member.error:
        raise InvalidImage(member.error)
    clean = clean_image(
        io.BytesIO(member.data),
        size=len(member.data),
        max_bytes=settings.NAEVUS_MAX_UPLOAD_BYTES,
        max_pixels=settings.NAEVUS_MAX_IMAGE_PIXELS,
    )
    lesion = None
    if mapping is not None:
        row = mapping.get(member.name)
        if row is None:
            raise InvalidImage("not listed in the mapping CSV")
        lesion = _lesion_for(user=user, clinic=clinic, row=row, create_missing=create_missing, cache=lesion_cache)
    return clean, lesion


def batch_abandon(*, batch: BatchJob, reason: str) -> None:
    """The files that never arrived are recorded as failed, so that the batch can finish."""
    from .models import Prediction

    arrived = Prediction.objects.filter(batch=batch).count() + batch.rejected_files.count()
    missing = max(0, batch.total - arrived)
    BatchRejectedFile.objects.bulk_create(
        [BatchRejectedFile(batch=batch, file_name="(not read)", reason=reason) for _ in range(missing)]
    )
    batch_finish_if_complete(batch.pk)


def batch_create(
    *,
    user,
    clinic,
    members: Iterable[Member],
    total: int,
    name: str = "",
    mapping: dict[str, MappingRow] | None = None,
    create_missing: bool = False,
) -> BatchJob:
    """Validates every member; good ones become images with a queued prediction, bad ones rejected
    files with their reason. Predictions are published after commit."""
    if clinic is None:
        raise ApplicationError("Only members of a clinic can run a batch.", code="no_clinic", status=403)
    if total == 0:
        raise ApplicationError("The batch has no files.", code="no_files")
    version = model_version_active()
    if version is None:
        raise ServiceUnavailable("No model is active; an administrator must activate one.", code="no_active_model")
    with transaction.atomic():
        batch = BatchJob.objects.create(
            clinic=clinic, created_by=user, name=name[:200], model_version=version, total=total
        )
        audit_record(user=user, action=Action.CREATE, object_type="batch", object_id=batch.pk)
    # Committed a chunk at a time, so the workers start on the first images while the rest are read
    # and validated (19 s of a 2,000-image zip's 141 s were spent waiting otherwise: bench/README.md).
    lesion_cache: dict = {}
    stored = rejected = 0
    for chunk in _chunked(members, BATCH_COMMIT_EVERY):
        images: list = []
        try:
            with transaction.atomic():
                rejections = []
                for member in chunk:
                    try:
                        clean, lesion = _member_image(
                            user=user,
                            clinic=clinic,
                            member=member,
                            mapping=mapping,
                            create_missing=create_missing,
                            lesion_cache=lesion_cache,
                        )
                    except InvalidImage as exc:
                        rejections.append(
                            BatchRejectedFile(
                                batch=batch, file_name=display_name(member.name), reason=exc.message[:500]
                            )
                        )
                        continue
                    images += images_store(user=user, clinic=clinic, cleaned=[(clean, member.name)], lesion=lesion)
                    if lesion is not None:
                        patient_visited(patient_id=lesion.patient_id)
                BatchRejectedFile.objects.bulk_create(rejections)
                predictions_request(user=user, images=images, batch=batch)
        except Exception:
            files_discard([i.file.name for i in images if i.file.name])
            batch_abandon(batch=batch, reason="The upload stopped before every file was read.")
            raise
        stored += len(images)
        rejected += len(rejections)
    if stored + rejected < total:
        batch_abandon(batch=batch, reason="Fewer files were read than the archive listed.")
    batch_finish_if_complete(batch.pk)
    logger.info("batch %s created: %d image(s), %d rejected", batch.pk, stored, rejected)
    batch.refresh_from_db()
    return batch
