"""`manage.py generate_fake_records`: a large synthetic clinic for the API-under-load benchmark.

    manage.py generate_fake_records --clinic 3 --patients 10000 --lesions 40000 --images 100000

Patients, lesions, images and one finished prediction per image (under the active model version),
written with bulk inserts in chunks of patients so that 100,000 images take about a minute and
bounded memory. The image rows share a handful of real files from samples/isic, copied once into
the media storage, so that thumbnails and files still open. Names and MRNs are synthetic
(``FAKE-<run>-<n>``); nothing here is a person.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from PIL import Image

from classifier.models import FLAG_LATEST_SQL, ModelVersion, Prediction
from portal.accounts.models import Clinic
from portal.records.models import Lesion, LesionImage, Patient
from portal.records.vocabulary import AnatomicSite, Sex

SAMPLES = Path(settings.BASE_DIR) / "samples" / "isic"
CHUNK_PATIENTS = 1000
INSERT_BATCH = 2000


def owners(count: int, among: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``among`` parents each of ``count`` children belongs to: every parent gets at least
    one, the rest are spread at random (so some patients have many lesions, as in life)."""
    if count < among:
        raise CommandError(f"{count} children cannot give each of {among} parents at least one")
    extra = rng.integers(0, among, size=count - among)
    return np.sort(np.concatenate([np.arange(among), extra]))


def shared_files(clinic: Clinic, how_many: int) -> list[dict]:
    sources = sorted(SAMPLES.glob("*.jpg"))[:how_many]
    if not sources:
        raise CommandError(f"no sample images in {SAMPLES}")
    files = []
    for path in sources:
        data = path.read_bytes()
        with Image.open(path) as img:
            width, height = img.size
        name = default_storage.save(f"images/{clinic.pk}/fake-{path.stem}.jpg", ContentFile(data))
        files.append({"file": name, "sha256": hashlib.sha256(data).hexdigest(), "width": width, "height": height})
    return files


class Command(BaseCommand):
    help = "Generate a large synthetic clinic (patients, lesions, images, finished predictions) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", type=int, help="clinic id to fill (default: a new clinic)")
        parser.add_argument("--user", help="username recorded as uploader and requester (default: none)")
        parser.add_argument("--patients", type=int, default=10_000)
        parser.add_argument("--lesions", type=int, default=40_000)
        parser.add_argument("--images", type=int, default=100_000, help="images, each with one finished prediction")
        parser.add_argument("--files", type=int, default=8, help="real image files shared by all image rows")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **opts):
        if not 0 < opts["patients"] <= opts["lesions"] <= opts["images"]:
            raise CommandError("need 0 < patients <= lesions <= images")
        version = ModelVersion.objects.filter(is_active=True).first()
        if version is None:
            raise CommandError("no active model version: register and activate one first")
        if opts["clinic"]:
            clinic = Clinic.objects.filter(pk=opts["clinic"]).first()
            if clinic is None:
                raise CommandError(f"no clinic {opts['clinic']}")
        else:
            clinic = Clinic.objects.create(name=f"Fake clinic {secrets.token_hex(3)}")
        user = get_user_model().objects.filter(username=opts["user"]).first() if opts["user"] else None
        if opts["user"] and user is None:
            raise CommandError(f"no user {opts['user']!r}")

        started = time.perf_counter()
        rng = np.random.default_rng(opts["seed"])
        run = secrets.token_hex(3)
        files = shared_files(clinic, opts["files"])
        lesion_owner = owners(opts["lesions"], opts["patients"], rng)
        image_owner = owners(opts["images"], opts["lesions"], rng)
        for first in range(0, opts["patients"], CHUNK_PATIENTS):
            last = min(first + CHUNK_PATIENTS, opts["patients"])
            lesion_span = np.searchsorted(lesion_owner, [first, last])
            image_span = np.searchsorted(image_owner, lesion_span)
            with transaction.atomic():
                self._chunk(
                    clinic=clinic, user=user, version=version, files=files, rng=rng, run=run,
                    patient_numbers=range(first, last),
                    lesion_owner=lesion_owner[lesion_span[0] : lesion_span[1]] - first,
                    image_owner=image_owner[image_span[0] : image_span[1]] - lesion_span[0],
                )  # fmt: skip
        if connection.vendor == "postgresql":
            # A bulk load leaves the planner's statistics stale until autovacuum catches up, and with
            # them the patient list picks a plan ~400× slower (8.4 s vs 20 ms at 2,000 patients).
            with connection.cursor() as cursor:
                for model in (Patient, Lesion, LesionImage, Prediction):
                    cursor.execute(f'ANALYZE "{model._meta.db_table}"')
        self.stdout.write(
            f"clinic {clinic.pk}: {opts['patients']} patients, {opts['lesions']} lesions, "
            f"{opts['images']} images and predictions in {time.perf_counter() - started:.1f}s"
        )

    def _chunk(self, *, clinic, user, version, files, rng, run, patient_numbers, lesion_owner, image_owner):
        now = timezone.now()
        sexes = [Sex.FEMALE, Sex.MALE]
        sites = [s for s in AnatomicSite.values if s != AnatomicSite.UNKNOWN]
        patients = Patient.objects.bulk_create(
            [
                Patient(
                    clinic=clinic,
                    mrn=f"FAKE-{run}-{n:06d}",
                    name=f"Synthetic Patient {n:06d}",
                    sex=sexes[n % 2],
                    birth_year=int(rng.integers(1930, 2010)),
                    last_visit=now - timedelta(minutes=int(rng.integers(0, 3 * 365 * 24 * 60))),
                )
                for n in patient_numbers
            ],
            batch_size=INSERT_BATCH,
        )
        lesions = Lesion.objects.bulk_create(
            [
                Lesion(patient=patients[p], anatomic_site=sites[int(rng.integers(len(sites)))], label=f"lesion {i}")
                for i, p in enumerate(lesion_owner)
            ],
            batch_size=INSERT_BATCH,
        )
        images = LesionImage.objects.bulk_create(
            [
                LesionImage(
                    clinic=clinic,
                    lesion=lesions[les],
                    content_type="image/jpeg",
                    uploaded_by=user,
                    original_name=f"fake_{i}.jpg",
                    **files[i % len(files)],
                )
                for i, les in enumerate(image_owner)
            ],
            batch_size=INSERT_BATCH,
        )
        scores = rng.normal(-1.5, 1.5, size=len(images))
        probabilities = 1.0 / (1.0 + np.exp(-scores))
        Prediction.objects.bulk_create(
            [
                Prediction(
                    image=image,
                    clinic_id=image.clinic_id,
                    model_version=version,
                    requested_by=user,
                    status=Prediction.Status.DONE,
                    attempts=1,
                    image_sha256=image.sha256,
                    raw_score=float(score),
                    melanoma_probability=float(p),
                    risk_category=Prediction.Risk.REFER if p >= version.threshold else Prediction.Risk.ROUTINE,
                    threshold=version.threshold,
                    worker="generate_fake_records",
                    decode_ms=10.0,
                    inference_ms=50.0,
                    queue_ms=0.0,
                    queued_at=now,
                    started_at=now,
                    finished_at=now,
                )
                for image, score, p in zip(images, scores, probabilities, strict=True)
            ],
            batch_size=INSERT_BATCH,
        )
        # bulk_create skips save(): flag each lesion's current result as the worker's store would.
        with connection.cursor() as cursor:
            cursor.execute(FLAG_LATEST_SQL)
