"""SIIM-ISIC sources (labels CSV + image folder), combined into one list of records."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifier.inference.scoring import sha256_file

REQUIRED_COLUMNS = ("image_name", "diagnosis", "target")
# The SIIM-ISIC 2020 train.csv layout, as `export_dataset` writes it.
SIIM_ISIC_COLUMNS = (
    "image_name",
    "patient_id",
    "sex",
    "age_approx",
    "anatom_site_general_challenge",
    "diagnosis",
    "benign_malignant",
    "target",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

BINARY_CLASSES = ("benign", "melanoma")
# The ISIC 2019 nine-class set; melanoma first so its index is stable.
DIAGNOSIS_CLASSES = (
    "melanoma",
    "nevus",
    "basal cell carcinoma",
    "actinic keratosis",
    "benign keratosis",
    "dermatofibroma",
    "vascular lesion",
    "squamous cell carcinoma",
    "unknown",
)
# SIIM-ISIC 2020 and HAM10000 spell the same lesions differently; ISIC 2019 groups them so.
_DIAGNOSIS_ALIASES = {
    "mel": "melanoma",
    "nv": "nevus",
    "bcc": "basal cell carcinoma",
    "akiec": "actinic keratosis",
    "bowen's disease": "actinic keratosis",
    "bkl": "benign keratosis",
    "pigmented benign keratosis": "benign keratosis",
    "seborrheic keratosis": "benign keratosis",
    "solar lentigo": "benign keratosis",
    "lentigo nos": "benign keratosis",
    "lichenoid keratosis": "benign keratosis",
    "df": "dermatofibroma",
    "vasc": "vascular lesion",
    "scc": "squamous cell carcinoma",
}


class DataError(ValueError):
    pass


@dataclass(frozen=True)
class Record:
    image_name: str
    path: Path
    source: str
    patient_id: str
    diagnosis: str
    target: int
    sha256: str
    sex: str = ""
    age_approx: str = ""
    anatom_site: str = ""
    lesion_id: str = ""

    @property
    def group(self) -> str:
        """What must stay on one side of a split: the patient, else the lesion, else the image itself.

        Several images of one lesion (HAM10000 has up to six) are near-duplicates; letting them straddle
        train and test would inflate every held-out figure.
        """
        if self.patient_id:
            return f"patient:{self.patient_id}"
        if self.lesion_id:
            return f"lesion:{self.lesion_id}"
        return f"image:{self.source}/{self.image_name}"


def class_names(task: str) -> tuple[str, ...]:
    if task == "binary":
        return BINARY_CLASSES
    if task == "diagnosis":
        return DIAGNOSIS_CLASSES
    raise ValueError(f"unknown task {task!r}")


def melanoma_index(task: str) -> int:
    return class_names(task).index("melanoma")


def canonical_diagnosis(diagnosis: str) -> str:
    name = diagnosis.strip().lower()
    name = _DIAGNOSIS_ALIASES.get(name, name)
    return name if name in DIAGNOSIS_CLASSES else "unknown"


def label_of(record: Record, task: str) -> int:
    if task == "binary":
        return record.target
    return DIAGNOSIS_CLASSES.index(canonical_diagnosis(record.diagnosis))


def parse_source(spec: str) -> tuple[Path, Path]:
    """`CSV:IMAGES` → (csv path, image folder). Splits on the last colon so Windows drives survive."""
    csv_part, sep, images_part = spec.rpartition(":")
    if not sep or not csv_part or not images_part:
        raise DataError(f"expected CSV:IMAGES, got {spec!r}")
    return Path(csv_part), Path(images_part)


def _find_image(images: Path, image_name: str) -> Path:
    for suffix in ("", *IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES)):
        candidate = images / f"{image_name}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(f"image {image_name!r} listed in the CSV is missing from {images}")


def read_siim_isic(csv_path: Path, images: Path, *, source: str | None = None) -> list[Record]:
    source = source or csv_path.parent.name
    with csv_path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{csv_path}: missing columns {missing}")
        records = []
        for line, row in enumerate(reader, start=2):
            try:
                target = int(float(row["target"]))
            except ValueError as exc:
                raise DataError(f"{csv_path}:{line}: target {row['target']!r} is not 0/1") from exc
            if target not in (0, 1):
                raise DataError(f"{csv_path}:{line}: target must be 0 or 1")
            path = _find_image(images, row["image_name"])
            records.append(
                Record(
                    image_name=row["image_name"],
                    path=path,
                    source=source,
                    patient_id=(row.get("patient_id") or "").strip(),
                    diagnosis=(row.get("diagnosis") or "").strip(),
                    target=target,
                    sha256=sha256_file(path),
                    sex=row.get("sex") or "",
                    age_approx=row.get("age_approx") or "",
                    anatom_site=row.get("anatom_site_general_challenge") or "",
                    lesion_id=(row.get("lesion_id") or "").strip(),
                )
            )
    if not records:
        raise DataError(f"{csv_path} lists no images")
    return records


def load_sources(specs: Iterable[str]) -> list[Record]:
    records: list[Record] = []
    for spec in specs:
        csv_path, images = parse_source(spec)
        records.extend(read_siim_isic(csv_path, images, source=f"{csv_path.parent.name}/{csv_path.stem}"))
    return records


def duplicate_groups(records: Sequence[Record]) -> dict[str, list[int]]:
    """sha256 → indices of records sharing those bytes, for hashes seen more than once."""
    by_hash: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_hash.setdefault(record.sha256, []).append(index)
    return {digest: idx for digest, idx in by_hash.items() if len(idx) > 1}
