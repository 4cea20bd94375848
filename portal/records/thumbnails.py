"""A stored image as a small JPEG, turned as it is shown: the API's thumbnail and the reports' pictures."""

import io

from PIL import Image, ImageOps

from .jpeg import with_orientation
from .models import LesionImage


def thumbnail_jpeg(image: LesionImage, *, size: int = 256) -> bytes:
    with image.file.open("rb") as fh:
        img = Image.open(io.BytesIO(with_orientation(fh.read(), image.orientation)))
        img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img).convert("RGB")
        img.thumbnail((size, size))
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=85)
    return out.getvalue()
