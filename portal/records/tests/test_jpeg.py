"""The JPEG upload path without a re-encode: `jpeg.strip` keeps what decoding needs and nothing
else, the pixels are those of the upload, and malformed structure is refused (hypothesis fuzzes it)."""

import io
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from portal.records import jpeg
from portal.records.validation import InvalidImage, clean_image

SECRETS = (b"Dr Secret Name", b"John Doe", b"51N-GPS", b"xmp-secret", b"icc-secret", b"iptc-secret", b"PK\x03\x04")


def _photo(size=(96, 64), seed=0, **save_kwargs) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(out, "JPEG", **save_kwargs)
    return out.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _with_everything(data: bytes) -> bytes:
    """EXIF (names, GPS, orientation), XMP, ICC, IPTC and two comments, and a zip after EOI."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x013B] = "Dr Secret Name"
    exif.get_ifd(0x8825)[1] = "51N-GPS"
    img = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    img.save(
        out,
        "JPEG",
        exif=exif,
        comment=b"John Doe, DOB 1970",
        xmp=b"<x:xmpmeta>xmp-secret</x:xmpmeta>",
        icc_profile=b"icc-secret" * 20,
    )
    marked = out.getvalue()
    marked = marked[:2] + _segment(0xED, b"Photoshop 3.0\x00iptc-secret") + _segment(0xFE, b"John Doe") + marked[2:]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return marked + archive.getvalue()


def _markers(data: bytes) -> list[int]:
    """The markers of a file `strip` wrote, scans skipped."""
    found, pos = [], 2
    while True:
        marker = data[pos + 1]
        found.append(marker)
        if marker == jpeg.EOI:
            return found
        (length,) = struct.unpack_from(">H", data, pos + 2)
        pos += 2 + length
        if marker == jpeg.SOS:
            pos = jpeg._SCAN_END.search(data, pos).start()


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img)


def _clean(data: bytes):
    return clean_image(io.BytesIO(data), size=len(data), max_bytes=10_000_000, max_pixels=10_000_000)


def test_exif_gps_xmp_icc_iptc_comments_and_a_zip_after_eoi_are_gone_and_the_pixels_are_the_uploads():
    raw = _with_everything(_photo())
    assert all(secret in raw for secret in SECRETS)
    clean = _clean(raw)
    assert not [secret for secret in SECRETS if secret in clean.content]
    assert _markers(clean.content)[0] == jpeg.APP0  # only the fixed JFIF block is left of all the APPn
    assert not [m for m in _markers(clean.content) if m in jpeg.APPS and m != jpeg.APP0]
    assert clean.content.endswith(b"\xff\xd9") and clean.content.count(b"\xff\xd9") == 1
    assert clean.content[2:20] == jpeg.JFIF
    assert np.array_equal(_pixels(clean.content), _pixels(raw))
    assert (clean.width, clean.height, clean.orientation, clean.display_size) == (96, 64, 6, (64, 96))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"progressive": True},
        {"restart_marker_blocks": 1},
        {"progressive": True, "restart_marker_rows": 1},
        {"subsampling": 0, "quality": 40},
    ],
    ids=["progressive", "restart-markers", "progressive-restart", "444"],
)
def test_progressive_and_restart_marker_jpegs_keep_every_scan_and_decode_to_the_same_pixels(kwargs):
    raw = _photo((123, 77), **kwargs)
    clean = _clean(raw + b"trailing junk")
    if "progressive" in kwargs:
        assert _markers(clean.content).count(jpeg.SOS) > 1
    if "restart_marker_blocks" in kwargs or "restart_marker_rows" in kwargs:
        assert 0xDD in _markers(clean.content) and b"\xff\xd0" in clean.content
    assert np.array_equal(_pixels(clean.content), _pixels(raw))


def test_a_greyscale_jpeg_and_an_adobe_marked_one_keep_their_colour_interpretation():
    grey = io.BytesIO()
    Image.fromarray(np.arange(64 * 48, dtype=np.uint8).reshape(48, 64) % 251).save(grey, "JPEG")
    assert np.array_equal(_pixels(_clean(grey.getvalue()).content), _pixels(grey.getvalue()))
    # An Adobe APP14 with transform 0 tells the decoder the 3 components are RGB, not YCbCr.
    plain = _photo()
    without_jfif = b"\xff\xd8" + plain[2 + 18 :]
    adobe_rgb = without_jfif[:2] + _segment(jpeg.APP14, b"Adobe\x00\x64\x80\x00\x00\x00\x00secret") + without_jfif[2:]
    clean = _clean(adobe_rgb)
    assert b"secret" not in clean.content and jpeg.APP0 not in _markers(clean.content)
    assert np.array_equal(_pixels(clean.content), _pixels(adobe_rgb))
    assert not np.array_equal(_pixels(clean.content), _pixels(plain))


def _frame_at(data: bytes) -> int:
    return data.index(b"\xff\xc0")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: d[:2] + b"\xff\xfe\x00\x01" + d[2:], id="segment-length-below-2"),
        pytest.param(lambda d: d[:2] + b"\xff\xfe\xff\xf0abc" + d[2:], id="segment-length-past-the-end"),
        pytest.param(lambda d: d[: d.rindex(b"\xff\xd9")], id="no-eoi"),
        pytest.param(
            lambda d: d[: _frame_at(d)] + d[_frame_at(d) : _frame_at(d) + 19] * 2 + d[_frame_at(d) + 19 :],
            id="two-frames",
        ),
        pytest.param(lambda d: d[:2] + b"\xff\xda\x00\x02" + d[2:], id="scan-before-frame"),
        pytest.param(lambda d: d[:2] + b"\xff\xf7\x00\x04ab" + d[2:], id="jpeg-ls-marker"),
        pytest.param(lambda d: d[:2] + b"\xff\xd0" + d[2:], id="restart-outside-a-scan"),
        pytest.param(lambda d: d[:20] + b"\x00" + d[20:], id="garbage-between-segments"),
        pytest.param(lambda d: d[:2] + b"\xff\xd9", id="no-scan"),
    ],
)
def test_malformed_structure_is_refused_as_corrupt(damage):
    data = damage(_photo())
    with pytest.raises(jpeg.MalformedJpeg):
        jpeg.strip(data)
    with pytest.raises(InvalidImage) as refused:
        _clean(data)
    assert refused.value.code == "corrupt_image"


def test_with_orientation_adds_an_exif_block_with_only_the_orientation():
    data = jpeg.strip(_photo())
    assert jpeg.with_orientation(data, 1) is data
    turned = jpeg.with_orientation(data, 8)
    with Image.open(io.BytesIO(turned)) as img:
        assert dict(img.getexif()) == {0x0112: 8}
    assert np.array_equal(_pixels(turned), _pixels(data))


SEEDS = [
    _with_everything(_photo((24, 16))),
    _photo((24, 16), progressive=True),
    _photo((24, 16), restart_marker_blocks=1),
]


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "ff"]))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            data[at:at] = bytes([0xFF, draw(st.integers(0, 255))])
        if not data:
            break
    return bytes(data)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.one_of(mutated(), st.builds(lambda tail: b"\xff\xd8" + tail, st.binary(max_size=256))))
def test_strip_only_ever_refuses_with_malformed_jpeg_and_what_it_keeps_is_stable_and_clean(data):
    try:
        out = jpeg.strip(data)
    except jpeg.MalformedJpeg:
        return
    assert out.startswith(b"\xff\xd8") and out.endswith(b"\xff\xd9")
    assert jpeg.strip(out) == out
    markers = _markers(out)
    assert jpeg.COM not in markers and markers.count(jpeg.EOI) == 1
    assert not [m for m in markers if m in jpeg.APPS and m not in (jpeg.APP0, jpeg.APP14)]
    assert len(out) <= len(data) + len(jpeg.JFIF) + 16
