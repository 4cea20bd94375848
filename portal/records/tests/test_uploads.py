import io
import os
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps

from portal.records.models import LesionImage
from portal.tests.factories import LesionFactory, PatientFactory, jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesion(clinic_a):
    return LesionFactory(patient=PatientFactory(clinic=clinic_a))


def _upload(api, lesion, *files):
    return api.post(f"/api/v1/lesions/{lesion.pk}/images/", {"files": list(files)}, format="multipart")


def _file(name, data, content_type="image/jpeg"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def _media_files(settings):
    root = settings.MEDIA_ROOT
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs] if os.path.exists(root) else []


def _exif_jpeg_with_gps_and_rotation() -> bytes:
    img = Image.new("RGB", (40, 20), (200, 50, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° CW to display
    exif[0x013B] = "Dr Secret Name"  # Artist
    exif[0x9286] = "patient John Doe"  # UserComment (in IFD0 here, good enough for the test)
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif, comment=b"John Doe, DOB 1970")
    return out.getvalue()


def test_exif_orientation_is_recorded_and_all_metadata_is_stripped(as_user, alice, lesion):
    raw = _exif_jpeg_with_gps_and_rotation()
    assert b"Dr Secret Name" in raw and b"John Doe" in raw
    assert _upload(as_user(alice), lesion, _file("a.jpg", raw)).status_code == 202
    image = LesionImage.objects.get()
    stored = image.file.open("rb").read()
    assert b"Secret" not in stored and b"John Doe" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        # The pixels as sent (not turned, not re-encoded); the turn is data on the record.
        assert img.size == (40, 20)
        assert not img.getexif()
        assert np.array_equal(np.asarray(img), np.asarray(Image.open(io.BytesIO(raw))))
    assert image.orientation == 6
    assert (image.width, image.height) == (20, 40)


def test_an_image_with_orientation_6_is_served_and_thumbnailed_turned_as_before(as_user, alice, lesion):
    """The SPA shows `file/` in an <img> (browsers apply EXIF orientation) and `thumbnail/` as is."""
    raw = _exif_jpeg_with_gps_and_rotation()
    api = as_user(alice)
    assert _upload(api, lesion, _file("a.jpg", raw)).status_code == 202
    image = LesionImage.objects.get()
    served = api.get(f"/api/v1/images/{image.pk}/file/")
    body = b"".join(served.streaming_content) if served.streaming else served.content
    assert b"Secret" not in body and b"John Doe" not in body
    with Image.open(io.BytesIO(body)) as img:
        assert dict(img.getexif()) == {0x0112: 6}
        assert ImageOps.exif_transpose(img).size == (20, 40)
    with Image.open(io.BytesIO(api.get(f"/api/v1/images/{image.pk}/thumbnail/").content)) as thumb:
        assert thumb.size == (20, 40) and not thumb.getexif()


def test_an_upright_jpeg_is_served_as_stored(as_user, alice, lesion):
    api = as_user(alice)
    assert _upload(api, lesion, _file("a.jpg", jpeg_bytes((40, 20)))).status_code == 202
    image = LesionImage.objects.get()
    served = api.get(f"/api/v1/images/{image.pk}/file/")
    assert image.orientation == 1
    assert b"".join(served.streaming_content) == image.file.open("rb").read()


def _assert_refused(response, settings, code=None):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["message"]
    if code:
        assert body["code"] == code
    assert LesionImage.objects.count() == 0
    assert _media_files(settings) == []
    return body


def test_it_rejects_a_truncated_jpeg(as_user, alice, lesion, settings):
    data = jpeg_bytes((256, 256))
    body = _assert_refused(
        _upload(as_user(alice), lesion, _file("a.jpg", data[: len(data) // 2])), settings, "corrupt_image"
    )
    assert "corrupt or truncated" in body["message"]


def test_it_rejects_html_renamed_to_jpg(as_user, alice, lesion, settings):
    html = b"<html><script>alert(1)</script></html>"
    _assert_refused(_upload(as_user(alice), lesion, _file("a.jpg", html)), settings, "unsupported_format")


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def test_it_rejects_a_png_bomb_from_its_header_without_decoding(as_user, alice, lesion, settings):
    body = _assert_refused(
        _upload(as_user(alice), lesion, _file("bomb.png", _png_header_only(20000, 20000), "image/png")),
        settings,
        "too_many_pixels",
    )
    assert "more pixels than the limit" in body["message"] or "20000×20000" in body["message"]


def test_a_png_html_polyglot_is_stored_as_a_clean_reencoded_png(as_user, alice, lesion):
    polyglot = png_bytes() + b"<html><script>alert(document.cookie)</script></html>"
    api = as_user(alice)
    response = _upload(api, lesion, _file("poly.png", polyglot, "image/png"))
    assert response.status_code == 202
    image = LesionImage.objects.get()
    assert b"<script>" not in image.file.open("rb").read()
    served = api.get(f"/api/v1/images/{image.pk}/file/")
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in b"".join(served.streaming_content)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.jpg", "/abs/x.jpg", "C:\\win\\x.jpg", "a\u202egpj.exe", "x" * 1000 + ".jpg", "CON.jpg"]
)
def test_a_hostile_file_name_never_reaches_the_filesystem(as_user, alice, lesion, settings, name):
    assert _upload(as_user(alice), lesion, _file(name, jpeg_bytes())).status_code == 202
    image = LesionImage.objects.get()
    assert image.file.name.startswith(f"images/{lesion.patient.clinic_id}/")
    assert ".." not in image.file.name and "CON" not in image.file.name
    assert "\u202e" not in image.original_name and "/" not in image.original_name and len(image.original_name) <= 200
    assert all(os.path.realpath(p).startswith(os.path.realpath(settings.MEDIA_ROOT)) for p in _media_files(settings))


def test_one_bad_file_refuses_the_whole_request_naming_it(as_user, alice, lesion, settings):
    body = _assert_refused(
        _upload(as_user(alice), lesion, _file("good.jpg", jpeg_bytes()), _file("bad.jpg", b"GIF89a....")), settings
    )
    assert body["message"].startswith("bad.jpg")


def test_an_image_over_the_byte_limit_is_refused(as_user, alice, lesion, settings):
    settings.NAEVUS_MAX_UPLOAD_BYTES = 1000
    _assert_refused(
        _upload(as_user(alice), lesion, _file("a.jpg", jpeg_bytes((300, 300)))), settings, "image_too_large"
    )


def test_images_over_the_request_pixel_budget_together_are_refused_before_any_is_decoded(
    as_user, alice, lesion, settings, monkeypatch
):
    from portal.records import validation

    settings.NAEVUS_MAX_REQUEST_PIXELS = 3 * 64 * 48 - 1
    decoded = []
    monkeypatch.setattr(validation, "_reencode", lambda img, fmt: decoded.append(fmt))
    files = [_file(f"{i}.png", png_bytes(), "image/png") for i in range(3)]
    body = _assert_refused(_upload(as_user(alice), lesion, *files), settings, "request_too_many_pixels")
    assert body["fields"] == {"files": [body["message"]]} and "9,216 pixels" in body["message"]
    assert decoded == []
    settings.NAEVUS_MAX_REQUEST_PIXELS = 3 * 64 * 48
    monkeypatch.undo()
    files = [_file(f"{i}.png", png_bytes(), "image/png") for i in range(3)]
    assert _upload(as_user(alice), lesion, *files).status_code == 202


def test_an_upload_that_waits_too_long_for_a_decode_slot_gets_a_503_with_retry_after(as_user, alice, lesion, settings):
    from portal.records import validation

    settings.NAEVUS_MAX_CONCURRENT_DECODES = 1
    settings.NAEVUS_DECODE_WAIT_SECONDS = 0.05
    validation._decode_slots.cache_clear()
    slots = validation._decode_slots()
    slots.acquire()  # another request's decode, still running
    try:
        response = _upload(as_user(alice), lesion, _file("a.png", png_bytes(), "image/png"))
    finally:
        slots.release()
        validation._decode_slots.cache_clear()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["code"] == "busy"
    assert LesionImage.objects.count() == 0
