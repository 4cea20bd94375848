"""JPEG at marker level: what an upload is stored as, without decoding it.

`strip` copies the segments a decoder needs (frame, tables, restart interval, scans with their
entropy-coded data) and nothing else: every APPn (EXIF with GPS and names, XMP, ICC, IPTC, JFIF
thumbnails), every COM and whatever follows EOI is gone. Two markers change how the pixels are
read, so their meaning is kept in a fixed form with no room for anything else: a JFIF APP0 (a
3-component image is then YCbCr whatever its component ids) and an Adobe APP14 (its colour
transform flag). The entropy-coded data is copied untouched, so the stored file decodes to exactly
the pixels of the upload.

Strict by design: a segment length that is too short or runs past the end, a marker no baseline,
progressive or lossless camera JPEG uses, a second frame, a scan before the frame, data after the
last scan that is not a marker, or a missing EOI all raise `MalformedJpeg`. It checks structure
only; the caller decodes the result (strictly) to check the entropy-coded data.

No maintained library does this in-process: piexif only removes EXIF and is unmaintained,
jpegtran/exiftool are programs (and the upload path starts none)."""

import re
import struct

from PIL import Image

SOI, EOI, SOS, APP0, APP14, COM = 0xD8, 0xD9, 0xDA, 0xE0, 0xEE, 0xFE
# SOF0–3, 5–7, 9–11, 13–15 (C4 is DHT, C8 is reserved, CC is DAC).
FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# What a decoder reads besides frames and scans: DHT, DAC, DQT, DNL, DRI.
TABLES = frozenset({0xC4, 0xCC, 0xDB, 0xDC, 0xDD})
APPS = frozenset(range(0xE0, 0xF0))
# JFIF 1.01, no density, no thumbnail.
JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
# Inside a scan 0xFF is followed by 0x00 (a stuffed byte) or a restart marker; anything else ends it.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


class MalformedJpeg(ValueError):
    pass


def strip(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise MalformedJpeg("no SOI")
    kept: list[bytes] = []
    jfif = adobe = None
    frame = scans = 0
    pos, end = 2, len(data)
    while True:
        if pos >= end or data[pos] != 0xFF:
            raise MalformedJpeg("expected a marker")
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            raise MalformedJpeg("no EOI")
        marker = data[pos]
        pos += 1
        if marker == EOI:
            if not scans:
                raise MalformedJpeg("no scan")
            break
        if marker not in FRAMES and marker not in TABLES and marker not in APPS and marker not in (SOS, COM):
            raise MalformedJpeg(f"unexpected marker {marker:#04x}")
        if pos + 2 > end:
            raise MalformedJpeg("truncated segment")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > end:
            raise MalformedJpeg("bad segment length")
        payload = data[pos + 2 : pos + length]
        segment = data[pos - 2 : pos + length]
        pos += length
        if marker == APP0 and payload.startswith(b"JFIF\x00"):
            jfif = JFIF
        elif marker == APP14 and payload.startswith(b"Adobe") and len(payload) >= 12:
            # version, flags0, flags1 (fixed values) and the transform byte libjpeg reads.
            adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00" + payload[11:12]
        elif marker in APPS or marker == COM:
            pass
        elif marker in FRAMES:
            if frame:
                raise MalformedJpeg("a second frame")
            frame = 1
            kept.append(segment)
        elif marker == SOS:
            if not frame:
                raise MalformedJpeg("a scan before the frame")
            found = _SCAN_END.search(data, pos)
            if found is None:
                raise MalformedJpeg("a scan without an end")
            kept.append(segment)
            kept.append(data[pos : found.start()])
            scans += 1
            pos = found.start()
        else:
            kept.append(segment)
    return b"".join([b"\xff\xd8", jfif or b"", adobe or b"", *kept, b"\xff\xd9"])


def with_orientation(data: bytes, orientation: int) -> bytes:
    """A stored JPEG with an EXIF block that holds its orientation and nothing else, for a decoder or
    browser that applies EXIF orientation (Pillow's `exif_transpose`, every current browser's
    `<img>`). The stored file has none: orientation is a field of the image record."""
    if orientation == 1 or data[:2] != b"\xff\xd8":
        return data
    exif = Image.Exif()
    exif[0x0112] = orientation
    block = exif.tobytes()
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(block) + 2) + block + data[2:]
