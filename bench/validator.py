"""Upload validation alone: `clean_image` (plus the worker's decode of what it stored) on a 600×450
dermoscopy JPEG and on the same image at 24 MP, median of N runs in this process. A figure for
issue 16 item 1, not part of `run_all.py`:

    DJANGO_SETTINGS_MODULE=portal.settings.test .venv/bin/python bench/validator.py [--runs 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")

import django  # noqa: E402

django.setup()

import harness  # noqa: E402
from django.conf import settings  # noqa: E402

from classifier.inference.preprocessing import open_image  # noqa: E402
from portal.records.validation import clean_image  # noqa: E402


def median_ms(fn, runs: int) -> str:
    """Wall and CPU time: on a loaded machine the CPU time is the steadier of the two."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return f"{statistics.median(wall):.1f} ms (CPU {statistics.median(cpu):.1f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--image", type=Path, help="a 600×450 JPEG (default: the bench's first source image)")
    args = parser.parse_args()
    paths, where = ([args.image], str(args.image.parent)) if args.image else harness.source_images()
    small = paths[0].read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        big = harness.upscaled([small], Path(tmp))[0]
    print(f"images: {paths[0].name} from {where}; 24 MP = {harness.BIG_SIZE}, JPEG q=90 ({len(big) / 1e6:.1f} MB)")
    for label, data in (("600x450", small), ("24 MP", big)):

        def validate(data=data):
            return clean_image(
                io.BytesIO(data),
                size=len(data),
                max_bytes=settings.NAEVUS_MAX_UPLOAD_BYTES,
                max_pixels=settings.NAEVUS_MAX_IMAGE_PIXELS,
            )

        stored = validate().content
        ms = median_ms(validate, args.runs)
        decode = median_ms(lambda stored=stored: open_image(stored, target_size=224), args.runs)
        print(
            f"{label}: clean_image median {ms}; stored {len(stored)} B of {len(data)} B sent; "
            f"worker decode (open_image, 224 px) median {decode}  [{args.runs} runs]"
        )


if __name__ == "__main__":
    main()
