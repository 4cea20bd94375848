"""Upload validation by content. Only JPEG and PNG, sniffed from the bytes; the pixel count is
checked from the header before anything is decoded. What is stored carries no metadata, so a
polyglot or a file carrying GPS or names never reaches the media folder:

- a JPEG (RGB or greyscale) is rewritten at marker level (`jpeg.strip`: only what decoding needs,
  nothing after EOI) and that rewritten file is decoded strictly at 1/8 scale, which reads every
  entropy-coded bit without a full frame in memory. Its EXIF orientation becomes data
  (`CleanImage.orientation`, stored on the image record) applied wherever it is decoded or shown;
- a PNG, and a CMYK JPEG, is a re-encoding of the decoded pixels, orientation applied.

Memory: a full decode holds width × height × 3 bytes (147 MB at 49 MP), so each decode is made
in place (no transposed or converted copy beside the original), a process runs at most
NAEVUS_MAX_CONCURRENT_DECODES of them at once, and a request's images are summed from their
headers against NAEVUS_MAX_REQUEST_PIXELS before the first one is decoded."""

import io
import re
import threading
import unicodedata
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import BinaryIO

import simplejpeg
from django.conf import settings
from PIL import Image, ImageFile, ImageOps

from portal.core.exceptions import ApplicationError

from . import jpeg
from .vocabulary import UploadImageType

# Never decode half a file as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# PIL format → the stored file's type and extension: the one list of what an upload may be.
STORED_AS = {"JPEG": (UploadImageType.JPEG, "jpg"), "PNG": (UploadImageType.PNG, "png")}
# Formats PIL may open: anything else (EPS → Ghostscript, TIFF, SVG, …) is never handed to a decoder.
ALLOWED_FORMATS = tuple(STORED_AS)
ORIENTATION = 0x0112  # the EXIF tag


# Every `code` an image upload is refused with (400, the message also under `fields.files`).
UPLOAD_REJECTIONS = (
    "no_files",
    "too_many_files",
    "invalid_image",
    "image_too_large",
    "unsupported_format",
    "too_many_pixels",
    "request_too_many_pixels",
    "corrupt_image",
)


class InvalidImage(ApplicationError):
    """A refused upload. `code` says why (docs/api.md lists them); the API puts the message under
    `fields.files` too, where a form shows it."""

    def __init__(self, message: str, *, code: str = "invalid_image"):
        super().__init__(message, code=code, status=400, fields={"files": [message]})


@dataclass(frozen=True)
class CleanImage:
    """`width` × `height` are the stored file's; `orientation` (EXIF's 1–8) says how to show it."""

    content: bytes
    extension: str
    content_type: str
    width: int
    height: int
    orientation: int = 1

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as shown, after the orientation: 5–8 turn the image a quarter."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def sniff(head: bytes) -> str | None:
    if head.startswith(JPEG_MAGIC):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    return None


@cache
def _decode_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(settings.NAEVUS_MAX_CONCURRENT_DECODES)


def image_pixels(stream: BinaryIO) -> int:
    """Width × height from the header alone (nothing is decoded); 0 where the header cannot be read,
    which `clean_image` then refuses with its precise reason."""
    stream.seek(0)
    if sniff(stream.read(16)) is None:
        return 0
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            width, height = Image.open(stream, formats=ALLOWED_FORMATS).size
    except Exception:  # noqa: BLE001
        return 0
    return width * height


def clean_image(stream: BinaryIO, *, size: int, max_bytes: int, max_pixels: int) -> CleanImage:
    if size == 0:
        raise InvalidImage("The file is empty.")
    if size > max_bytes:
        raise InvalidImage(
            f"The image is larger than the {max_bytes // (1024 * 1024)} MB limit.", code="image_too_large"
        )
    stream.seek(0)
    fmt = sniff(stream.read(16))
    if fmt is None:
        raise InvalidImage("Only JPEG and PNG images are accepted.", code="unsupported_format")
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(stream, formats=ALLOWED_FORMATS)
            width, height = img.size
            if width * height > max_pixels:
                raise InvalidImage(
                    f"The image has {width}×{height} pixels, more than the limit of {max_pixels:,}.",
                    code="too_many_pixels",
                )
            if img.format != fmt:
                raise InvalidImage("The file's content does not match its format.", code="unsupported_format")
            if fmt == "JPEG" and img.mode in ("RGB", "L"):
                return _strip_jpeg(stream, img)
            with _decode_slot():
                return _reencode(img, fmt)
    except ApplicationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            f"The image has more pixels than the limit of {max_pixels:,}.", code="too_many_pixels"
        ) from None
    except Exception:  # noqa: BLE001
        # Any decoder failure (truncation, bad Huffman tables, bad CRC…) means the same to a clinician.
        raise InvalidImage("The image is corrupt or truncated.", code="corrupt_image") from None


@contextmanager
def _decode_slot():
    """One of the process's NAEVUS_MAX_CONCURRENT_DECODES full decodes; a request that cannot get one
    within NAEVUS_DECODE_WAIT_SECONDS is told to come back (503) rather than queueing without end."""
    slots = _decode_slots()
    if not slots.acquire(timeout=settings.NAEVUS_DECODE_WAIT_SECONDS):
        raise ApplicationError(
            "The server is busy checking other images; try again shortly.", code="busy", status=503, retry_after=5
        )
    try:
        yield
    finally:
        slots.release()


def _reencode(img: Image.Image, fmt: str) -> CleanImage:
    img.load()
    # In place, and converted only when not RGB already: each copy is another full frame in memory.
    ImageOps.exif_transpose(img, in_place=True)
    if img.mode != "RGB":
        img = img.convert("RGB")
    # Encoders copy comments, EXIF and ICC from `info`: start the stored file from pixels alone.
    img.info.clear()
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, format="JPEG", quality=95, optimize=False)
    else:
        img.save(out, format="PNG", compress_level=3)
    content_type, ext = STORED_AS[fmt]
    return CleanImage(out.getvalue(), ext, str(content_type), img.width, img.height)


def _strip_jpeg(stream: BinaryIO, img: Image.Image) -> CleanImage:
    """Pillow decodes through libjpeg's recoverable errors ("Corrupt JPEG data: …") silently, so a
    damaged scan would reach the model as a damaged image. libjpeg-turbo in strict mode refuses it;
    a 1/8-scale decode still reads every entropy-coded bit, at a fraction of the cost. It checks the
    rewritten file, so what is stored is what was checked. (A flip that still forms valid Huffman
    codes is undetectable: JPEG carries no checksum.)"""
    orientation = img.getexif().get(ORIENTATION, 1)
    if orientation not in range(1, 9):
        orientation = 1
    stream.seek(0)
    try:
        content = jpeg.strip(stream.read())
        simplejpeg.decode_jpeg(content, strict=True, min_height=1, min_width=1, min_factor=8)
    except ValueError:
        raise InvalidImage("The image is corrupt or truncated.", code="corrupt_image") from None
    with Image.open(io.BytesIO(content), formats=("JPEG",)) as stored:
        if stored.size != img.size or stored.mode != img.mode:
            raise InvalidImage("The image is corrupt or truncated.", code="corrupt_image")
    content_type, ext = STORED_AS["JPEG"]
    return CleanImage(content, ext, str(content_type), img.width, img.height, orientation)


_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f"}


def display_name(name: str | None) -> str:
    """The client's file name, made safe to show. It is never used to build a path."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch not in _BIDI)
    name = _UNSAFE.sub("", name).strip()
    return name[:200] or "image"
