"""Item 19: hypothesis fuzzes `clean_image`. Whatever the bytes, only `InvalidImage` escapes, and
whatever it accepts comes out as a decodable JPEG or PNG of the size it reports."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from portal.records.validation import JPEG_MAGIC, PNG_MAGIC, InvalidImage, clean_image
from portal.tests.factories import jpeg_bytes, png_bytes

pytestmark = pytest.mark.reliability

SEEDS = [jpeg_bytes((24, 16)), jpeg_bytes((24, 16), progressive=True), png_bytes((24, 16))]


@st.composite
def mutated(draw):
    """A valid image with a few bytes flipped, cut, or inserted — the shapes real corruption takes."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        if not data:
            break
    return bytes(data)


inputs = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda tail: JPEG_MAGIC + tail, st.binary(max_size=512)),
    st.builds(lambda tail: PNG_MAGIC + tail, st.binary(max_size=512)),
    mutated(),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(inputs)
def test_only_our_validation_error_ever_escapes_the_image_validator(data):
    try:
        clean = clean_image(io.BytesIO(data), size=len(data), max_bytes=10_000, max_pixels=100_000)
    except InvalidImage as exc:
        assert exc.status == 400 and exc.message
        return
    with Image.open(io.BytesIO(clean.content)) as img:
        img.load()
        assert img.format in ("JPEG", "PNG") and img.size == (clean.width, clean.height)
        assert clean.width * clean.height <= 100_000
