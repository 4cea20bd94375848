"""Bad input (issue #6, items 11–18): each refused with a clear 4xx, fast, leaving no row and no file.

Already covered elsewhere (see README.md): the header-only PNG bomb, a truncated JPEG, HTML renamed
.jpg, the PNG+HTML polyglot, EXIF stripping of a JPEG and most hostile file names
(portal/records/tests/test_uploads.py). This module adds what those leave open."""

import io
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from functools import cache
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.models import BatchJob, Prediction
from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, ModelVersionFactory, PatientFactory, jpeg_bytes

from .figures import record

pytestmark = [pytest.mark.reliability, pytest.mark.django_db]


@pytest.fixture
def lesion(clinic_a):
    return LesionFactory(patient=PatientFactory(clinic=clinic_a))


@pytest.fixture
def api(as_user, alice):
    return as_user(alice)


def _upload(api, lesion, name: str, data: bytes, content_type="image/jpeg"):
    return api.post(
        f"/api/v1/lesions/{lesion.pk}/images/",
        {"files": [SimpleUploadedFile(name, data, content_type=content_type)]},
        format="multipart",
    )


def _media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _assert_nothing_kept(settings):
    assert LesionImage.objects.count() == 0 and Prediction.objects.count() == 0
    assert _media_files(settings) == []


# Run in a fresh interpreter: its peak RSS (VmHWM) before validating is its current size, so any
# growth of the peak is the validation's. Needs no /proc/self/clear_refs, which containers often deny.
_PEAK_RSS_OF_VALIDATING = """
import io, sys
from pathlib import Path
import django
django.setup()
from portal.records.services import Upload, images_validate
from portal.records.validation import InvalidImage

def peak_kib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1])

data = Path(sys.argv[1]).read_bytes()
before = peak_kib()
try:
    images_validate(uploads=[Upload(io.BytesIO(data), len(data), "big.png")])
except InvalidImage as exc:
    print(exc.code, peak_kib() - before)
"""


def _validation_peak_rss_growth_mib(data: bytes, tmp_path: Path) -> tuple[str, float]:
    path = tmp_path / "probe.png"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_OF_VALIDATING, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test"},
    ).stdout.split()
    assert len(out) == 2, out
    return out[0], int(out[1]) / 1024


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def _black_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A valid RGB PNG of `width`×`height`, its zero pixels compressed as they stream (the full image
    is never in memory); `rows` stops early, for a header that claims more than it carries."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    body = b"".join(compressor.compress(row) for _ in range(rows or height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height", "rows"), [(9000, 9000, None), (20000, 20000, 2000)])
def test_an_image_over_the_pixel_cap_is_refused_in_under_a_second_without_decoding(
    api, lesion, settings, tmp_path, width, height, rows
):
    """Item 11. The 9000² PNG is complete (243 MB of pixels, 240 kB on the wire); the 20000² one
    carries its first 2000 rows (1.2 GB claimed)."""
    data = _black_png(width, height, rows)
    # The first request of a process imports and warms up the stack: keep that out of the timing.
    assert _upload(api, lesion, "warm-up.png", b"not a png", "image/png").status_code == 400
    began = time.perf_counter()
    response = _upload(api, lesion, "big.png", data, "image/png")
    took = time.perf_counter() - began
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_pixels"
    assert "pixels" in response.json()["message"] and "50,000,000" in response.json()["message"]
    assert took < 1.0
    _assert_nothing_kept(settings)
    code, grew_mib = _validation_peak_rss_growth_mib(data, tmp_path)
    # Decoding would need 243 MB (9000²) or 1.2 GB (20000²) at once.
    assert code == "too_many_pixels" and grew_mib < 40
    record(
        "11",
        f"{width}×{height} PNG ({len(data) // 1024} kB) refused",
        f"{took * 1000:.0f} ms, validation's peak RSS +{grew_mib:.0f} MiB",
    )


def _jpeg_segments(data: bytes) -> dict[int, int]:
    """Marker → offset of its first occurrence, for markers before the entropy-coded data."""
    found, i = {}, 2
    while i < len(data) - 4 and data[i] == 0xFF:
        marker = data[i + 1]
        found.setdefault(marker, i)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return found


def _corrupt_jpegs() -> dict[str, bytes]:
    good = jpeg_bytes((256, 256), color=(150, 90, 60))
    marks = _jpeg_segments(good)
    flipped_huffman = bytearray(good)
    # The 16 code-length counts of the first Huffman table: all 0xFF is no valid code.
    start = marks[0xC4] + 5
    flipped_huffman[start : start + 16] = b"\xff" * 16
    zero_width = bytearray(good)
    zero_width[marks[0xC0] + 7 : marks[0xC0] + 9] = b"\x00\x00"
    bad_sos = bytearray(good)
    bad_sos[marks[0xDA] + 5] ^= 0xFF  # the scan's component selector no longer names a component
    return {
        "truncated at 3/4": good[: len(good) * 3 // 4],
        "truncated after the headers": good[: marks[0xDA] + 20],
        "bit-flipped Huffman table": bytes(flipped_huffman),
        "bit-flipped frame size (width 0)": bytes(zero_width),
        "bit-flipped scan header": bytes(bad_sos),
    }


@pytest.mark.parametrize("kind", list(_corrupt_jpegs()))
def test_a_truncated_or_bit_flipped_jpeg_is_refused_as_corrupt(api, lesion, settings, kind):
    """Item 12."""
    response = _upload(api, lesion, "a.jpg", _corrupt_jpegs()[kind])
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "corrupt_image"
    assert "corrupt or truncated" in response.json()["message"]
    _assert_nothing_kept(settings)


def test_thirty_jpegs_with_bit_flips_in_pixel_data_are_all_refused_as_corrupt(api, lesion, settings):
    """Item 12, the part no validator can fully promise: JPEG has no checksum, so a flipped bit that
    still forms valid Huffman codes decodes (to wrong pixels) and cannot be told from a real image.
    On these 30 files (fixed seed) libjpeg-turbo's strict mode notices every flip; Pillow alone
    noticed none."""
    import random

    good = jpeg_bytes((128, 128), color=(150, 90, 60))
    scan = _jpeg_segments(good)[0xDA] + 14
    rng = random.Random(6)
    codes = []
    for _ in range(30):
        data = bytearray(good)
        for _ in range(3):
            data[rng.randrange(scan, len(data) - 2)] ^= 1 << rng.randrange(8)
        response = _upload(api, lesion, "a.jpg", bytes(data))
        codes.append((response.status_code, response.json().get("code")))
    assert codes == [(400, "corrupt_image")] * 30, codes
    _assert_nothing_kept(settings)
    record("12", "30 JPEGs with 3 flipped bits in the scan", "30 of 30 refused as corrupt")


def _pil(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format=fmt)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a.jpg", jpeg_bytes())
    return out.getvalue()


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n(%pipe%id) (w) file\nshowpage\n"
NOT_IMAGES = {
    "TIFF": lambda: _pil("TIFF"),
    "EPS": lambda: EPS,
    "EPS behind a JPEG signature": lambda: b"\xff\xd8\xff\xe0" + EPS,
    "SVG": lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "HTML": lambda: b"<!doctype html><script>alert(1)</script>",
    "PDF": lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "GIF": lambda: _pil("GIF"),
    "WebP": lambda: _pil("WEBP"),
    "ZIP": _zip,
}


@pytest.mark.parametrize("kind", list(NOT_IMAGES))
def test_a_file_that_is_not_a_jpeg_or_png_is_refused_whatever_its_name_and_nothing_is_executed(
    api, lesion, settings, kind
):
    """Item 13: every one named .jpg and sent as image/jpeg. No decoder but JPEG's and PNG's runs,
    so Ghostscript (or any other program) is never started."""
    with mock.patch("subprocess.Popen", side_effect=AssertionError("a program was started")) as popen:
        response = _upload(api, lesion, "photo.jpg", NOT_IMAGES[kind]())
    assert popen.call_count == 0
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("unsupported_format", "corrupt_image")
    _assert_nothing_kept(settings)


def test_a_jpeg_html_polyglot_is_served_as_a_reencoded_image_that_cannot_be_sniffed(api, lesion):
    """Item 14 for JPEG (the PNG case is in test_uploads): HTML hidden in a comment segment."""
    polyglot = jpeg_bytes((64, 64), comment=b"<html><body><script>alert(document.cookie)</script></body></html>")
    assert b"<script>" in polyglot
    assert _upload(api, lesion, "poly.jpg", polyglot).status_code == 202
    image = LesionImage.objects.get()
    for path in (f"/api/v1/images/{image.pk}/file/", f"/api/v1/images/{image.pk}/thumbnail/"):
        served = api.get(path)
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert served["Content-Type"] == "image/jpeg"
        assert served["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in served["Content-Security-Policy"]
        assert b"<script>" not in body and b"<html>" not in body
    assert (
        api.get(f"/api/v1/images/{image.pk}/file/")["Content-Disposition"] == f'inline; filename="image-{image.pk}.jpg"'
    )


def test_png_text_chunks_and_exif_are_gone_from_what_is_stored(api, lesion):
    """Item 15 for PNG: names in tEXt/iTXt/zTXt and GPS in eXIf never reach the media folder."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Secret Name")
    info.add_itxt("Comment", "patient John Doe")
    info.add_text("Description", "John Doe again", zip=True)
    exif = Image.Exif()
    exif[0x013B] = "Dr Exif Artist"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (10, 200, 30)).save(out, format="PNG", pnginfo=info, exif=exif)
    raw = out.getvalue()
    assert b"Secret" in raw and b"eXIf" in raw
    assert _upload(api, lesion, "a.png", raw, "image/png").status_code == 202
    stored = LesionImage.objects.get().file.open("rb").read()
    for secret in (b"Secret", b"John", b"Exif Artist", b"eXIf", b"tEXt", b"iTXt", b"zTXt"):
        assert secret not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (32, 16) and not img.getexif() and not img.text


@pytest.mark.parametrize("name", ["a\x00b.jpg", "..\x00/../x.jpg", "\u202ecod.jpg", "/" * 300 + "x.jpg"])
def test_more_hostile_file_names_are_stored_under_a_random_name_in_the_media_root(api, lesion, settings, name):
    """Item 16, adding NUL bytes and slash runs to test_uploads' list."""
    assert _upload(api, lesion, name, jpeg_bytes()).status_code == 202
    image = LesionImage.objects.get()
    root = Path(settings.MEDIA_ROOT).resolve()
    (stored,) = _media_files(settings)
    assert root in stored.resolve().parents
    assert image.file.name.startswith(f"images/{lesion.patient.clinic_id}/")
    assert "\x00" not in image.original_name and "/" not in image.original_name and "\u202e" not in image.original_name


# --- zips -------------------------------------------------------------------------------------


def _raw_zip(entries: list[dict]) -> bytes:
    """A zip written by hand, so that its headers can say what zipfile would never write.
    Each entry: name, data (stored compressed bytes), size (uncompressed), crc, method,
    external_attr; `points_at` reuses an earlier entry's local header (overlap)."""
    out, central, offsets = io.BytesIO(), [], []
    for entry in entries:
        name = entry["name"].encode()
        method, attr = entry.get("method", 8), entry.get("external_attr", 0o100644 << 16)
        # crc, compressed size, uncompressed size, name length: the same in both headers.
        sizes = (entry.get("crc", 0), len(entry["data"]), entry["size"], len(name))
        if "points_at" in entry:
            offsets.append(offsets[entry["points_at"]])
        else:
            offsets.append(out.tell())
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, *sizes, 0) + name + entry["data"])
        central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, 0x031E, 20, 0, method, 0, 0, *sizes, 0, 0, 0, 0, attr, offsets[-1]
            )
            + name
        )
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), start, 0))
    return out.getvalue()


@cache
def _zeros_deflate(megabytes: int) -> bytes:
    """Raw deflate that inflates to `megabytes` MiB of zeros, built from one compressed MiB repeated
    (a full flush makes each copy self-contained), so making it costs milliseconds."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(b"\x00" * (1 << 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return one * megabytes + compressor.flush()


def _zip_of(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return out.getvalue()


def _symlink_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        link = zipfile.ZipInfo("innocent.jpg")
        link.external_attr = (0o120777 << 16) | 0x20
        zf.writestr(link, "/etc/passwd")
        zf.writestr("a.jpg", jpeg_bytes())
    return out.getvalue()


def _bomb() -> bytes:
    """Ten members of 1 GiB of zeros each: 10 GiB expanded from ~10 MB. The CRCs are left at 0:
    nothing may be inflated far enough to check them."""
    data = _zeros_deflate(1024)
    return _raw_zip([{"name": f"scan_{i}.jpg", "data": data, "size": 1 << 30} for i in range(10)])


def _overlapping() -> bytes:
    one = zlib.compress(jpeg_bytes(), 9)[2:-4]
    return _raw_zip(
        [{"name": "a.jpg", "data": one, "size": len(jpeg_bytes())}]
        + [{"name": f"copy_{i}.jpg", "data": one, "size": len(jpeg_bytes()), "points_at": 0} for i in range(50)]
    )


HOSTILE_ZIPS = {
    "zip slip": lambda: _zip_of(("a.jpg", jpeg_bytes()), ("../../../evil.jpg", jpeg_bytes())),
    "absolute path": lambda: _zip_of(("/tmp/evil.jpg", jpeg_bytes())),
    "symlink": _symlink_zip,
    "nested zip": lambda: _zip_of(("a.jpg", jpeg_bytes()), ("more.zip", _zip_of(("b.jpg", jpeg_bytes())))),
    "10 GiB bomb": _bomb,
    "overlapping entries": _overlapping,
}


def _upload_temp_files() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if ".upload" in n}


@pytest.mark.parametrize("kind", list(HOSTILE_ZIPS))
def test_a_hostile_zip_is_refused_within_two_seconds_writing_nothing(api, settings, kind):
    """Item 17: refused from the central directory, before any member is inflated."""
    ModelVersionFactory()
    archive = HOSTILE_ZIPS[kind]()
    temp_before = _upload_temp_files()
    began = time.perf_counter()
    response = api.post(
        "/api/v1/batches/", {"archive": SimpleUploadedFile("batch.zip", archive, "application/zip")}, format="multipart"
    )
    took = time.perf_counter() - began
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_archive"
    assert took < 2.0
    assert BatchJob.objects.count() == 0
    _assert_nothing_kept(settings)
    assert _upload_temp_files() <= temp_before
    assert not Path(tempfile.gettempdir(), "evil.jpg").exists()
    record("17", f"{kind} zip ({len(archive) // 1024} kB) refused", f"{took * 1000:.0f} ms")


def test_more_than_a_hundred_files_in_one_request_is_a_400_not_a_500(api, lesion, settings):
    """Item 18."""
    files = [SimpleUploadedFile(f"{i}.jpg", b"x", content_type="image/jpeg") for i in range(101)]
    response = api.post(f"/api/v1/lesions/{lesion.pk}/images/", {"files": files}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_files"
    _assert_nothing_kept(settings)


def test_a_body_over_the_size_limit_is_a_413_before_it_is_read(api, lesion, settings):
    """Item 18: refused from Content-Length, whatever the route."""
    settings.NAEVUS_MAX_REQUEST_BYTES = 1024 * 1024
    began = time.perf_counter()
    response = _upload(api, lesion, "a.jpg", b"\xff\xd8\xff" + os.urandom(2 * 1024 * 1024))
    took = time.perf_counter() - began
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    _assert_nothing_kept(settings)
    record("18", "2 MiB body over a 1 MiB limit → 413", f"{took * 1000:.0f} ms")
