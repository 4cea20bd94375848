"""`manage.py export_dataset OUT`: the portal's images with a recorded outcome, in SIIM-ISIC format.

This is how clinics' confirmed cases become training data: `manage.py train --data
OUT/train.csv:OUT/images`. Patient and image ids are the portal's database keys, never a name
or a medical record number.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import OuterRef, Subquery

from portal.records.jpeg import with_orientation
from portal.records.models import LesionImage, Outcome
from portal.records.vocabulary import AnatomicSite, Diagnosis, Sex
from training.core.data import SIIM_ISIC_COLUMNS as COLUMNS


def _age_approx(birth_year: int | None, year: int) -> str:
    # SIIM-ISIC rounds ages to 5 years; a coarser number also identifies the patient less.
    if birth_year is None or birth_year > year:
        return ""
    return f"{5 * round((year - birth_year) / 5):.1f}"


class Command(BaseCommand):
    help = "Export images with a recorded outcome (e.g. biopsy) as OUT/train.csv + OUT/images/."

    def add_arguments(self, parser):
        parser.add_argument("out", help="folder to write (created; must be empty if it exists)")

    def handle(self, *args, out: str, **options):
        root = Path(out)
        if root.exists() and any(root.iterdir()):
            raise CommandError(f"{root} is not empty")
        images_dir = root / "images"
        images_dir.mkdir(parents=True, exist_ok=True)
        # The latest outcome of the lesion is its ground truth (a later biopsy supersedes).
        latest = Outcome.objects.filter(lesion=OuterRef("lesion")).order_by("-date", "-created_at")
        images = (
            LesionImage.objects.filter(lesion__isnull=False, lesion__outcomes__isnull=False)
            .select_related("lesion__patient")
            .annotate(
                outcome_diagnosis=Subquery(latest.values("diagnosis")[:1]),
                outcome_benign_malignant=Subquery(latest.values("benign_malignant")[:1]),
            )
            .distinct()
            .order_by("pk")
        )
        written = 0
        with (root / "train.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for image in images.iterator():
                patient = image.lesion.patient
                name = f"naevus_{image.pk}"
                suffix = Path(image.file.name).suffix.lower() or ".jpg"
                # Training's decoder applies EXIF orientation, so the export carries the record's.
                with image.file.open("rb") as src:
                    (images_dir / f"{name}{suffix}").write_bytes(with_orientation(src.read(), image.orientation))
                taken = image.captured_at or image.uploaded_at
                site = image.lesion.anatomic_site
                writer.writerow(
                    {
                        "image_name": name,
                        "patient_id": f"naevus_patient_{patient.pk}",
                        "sex": "" if patient.sex in (Sex.UNKNOWN, Sex.OTHER) else patient.sex,
                        "age_approx": _age_approx(patient.birth_year, taken.year),
                        "anatom_site_general_challenge": "" if site == AnatomicSite.UNKNOWN else site,
                        "diagnosis": image.outcome_diagnosis,
                        "benign_malignant": image.outcome_benign_malignant,
                        "target": int(image.outcome_diagnosis == Diagnosis.MELANOMA),
                    }
                )
                written += 1
        self.stdout.write(f"exported {written} image(s) to {root}")
