"""Where a file keeps its tags: the JPEG, PNG, WebP, TIFF and ISO-BMFF (AVIF, HEIC) containers walked for
their EXIF, XMP, text and C2PA blocks, within bytes already read (and capped) by `metadata.read_metadata`.
A damaged or hostile block is noted in `problems` and read around, never raised."""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field

from PIL import Image

from .io import bmff_kind, register_heif

XMP_MAX_BYTES = 1024 * 1024  # a bigger XMP packet is not parsed as XML, only searched by pattern
TEXT_MAX_BYTES = 1024 * 1024  # cap on one PNG text chunk, after decompression
MAX_TEXT_CHUNKS = 64
_PNG = b"\x89PNG\r\n\x1a\n"
_XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_OPEN = re.compile(rb"<x:x[am]pmeta[\s>]")


@dataclass
class Found:
    """The metadata blocks found in a file's head."""

    containers: set = field(default_factory=set)
    exif: bytes | None = None  # a TIFF-structured EXIF block
    xmp: bytes | None = None
    c2pa: dict | None = None  # provenance.read_c2pa's facts about the active manifest
    texts: dict = field(default_factory=dict)  # PNG text chunks; a JPEG comment as "comment"
    problems: list = field(default_factory=list)


def collect(head: bytes) -> Found:
    """Walk the container (JPEG, PNG, WebP) for metadata blocks, then search the head for XMP (C2PA is the SDK's)."""
    found = Found()
    walkers = {b"\xff\xd8": _walk_jpeg, _PNG[:2]: _walk_png, b"RI": _walk_webp}
    walker = walkers.get(head[:2])
    if walker is not None:
        try:
            walker(head, found)
        except Exception as exc:
            found.problems.append(f"container: {type(exc).__name__}: {exc}")
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        found.exif = head  # TIFF: exifread finds the block itself
    elif head[4:8] == b"ftyp":
        found.exif = _bmff_exif(head, found)
    if found.xmp is None and (m := XMP_OPEN.search(head)):
        found.xmp = head[m.start(): m.start() + XMP_MAX_BYTES + 64]
        found.containers.add("xmp")
    return found


def _bmff_exif(head: bytes, found: Found) -> bytes | None:
    """The EXIF block of an AVIF or HEIC file as its decoder reads it (headers only, no pixels); else the head
    itself, for exifread to search (which fails on some HEIC item layouts)."""
    kind = bmff_kind(head)
    if kind == "HEIC":
        register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as img:
                block = img.info.get("exif")
    except Exception:  # no decoder for it here, a truncated head, a damaged box: exifread tries the bytes
        return head
    if kind:
        found.containers.add(kind.lower())
    if not isinstance(block, bytes) or not block:
        return None
    return block[6:] if block.startswith(b"Exif\x00\x00") else block


def _walk_jpeg(data: bytes, found: Found) -> None:
    """APP and COM segments up to the start of the image data."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            found.problems.append(f"jpeg: no segment marker at byte {pos}")
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end, or start of scan: no metadata segments follow
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(data):
            what = "has an impossible length" if length < 2 else "overruns the file"
            found.problems.append(f"jpeg: segment 0x{marker:02X} at byte {pos} {what}")
        _jpeg_segment(marker, data[pos + 4: min(end, len(data))], found)
        if length < 2:
            return
        pos = end


def _jpeg_segment(marker: int, payload: bytes, found: Found) -> None:
    if marker == 0xE1 and payload.startswith(b"Exif\x00\x00") and found.exif is None:
        found.exif = payload[6:]
        found.containers.add("exif")
    elif marker == 0xE1 and payload.startswith(_XMP_JPEG) and found.xmp is None:
        found.xmp = payload[len(_XMP_JPEG):]
        found.containers.add("xmp")
    elif marker == 0xEB:  # APP11: JPEG-XT boxes, where C2PA puts its JUMBF manifest store
        found.containers.add("app11")
    elif marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
        found.containers.add("photoshop-irb")
    elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        found.containers.add("icc")
    elif marker == 0xFE:
        found.texts.setdefault("comment", payload[:TEXT_MAX_BYTES].decode("latin-1"))
        found.containers.add("comment")


def _walk_png(data: bytes, found: Found) -> None:
    """Text, eXIf and caBX chunks (image data chunks are skipped, CRCs are not checked)."""
    pos = len(_PNG)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            found.problems.append(f"png: chunk {kind.decode('latin-1')!r} at byte {pos} overruns the file")
        body = data[start: min(end, len(data))]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(kind, body, found)
        elif kind == b"eXIf" and found.exif is None:
            found.exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
            found.containers.add("exif")
        elif kind == b"caBX":
            found.containers.add("png-caBX")
        elif kind == b"iCCP":
            found.containers.add("icc")
        elif kind == b"IEND":
            return
        pos = end + 4


def _png_text(kind: bytes, body: bytes, found: Found) -> None:
    key, _, rest = body.partition(b"\x00")
    key_text = key[:80].decode("latin-1")
    if kind == b"tEXt":
        text = rest[:TEXT_MAX_BYTES]
    elif kind == b"zTXt":
        text = _inflate(rest[1:], found)
    else:  # iTXt: compression flag, method, language tag, translated keyword, UTF-8 text
        compressed = rest[:1] == b"\x01"
        _, _, rest = rest[2:].partition(b"\x00")
        _, _, text = rest.partition(b"\x00")
        text = _inflate(text, found) if compressed else text[:TEXT_MAX_BYTES]
    if key_text == "XML:com.adobe.xmp":
        if found.xmp is None:
            found.xmp = text
            found.containers.add("xmp")
        return
    found.containers.add("png-text")
    if len(found.texts) < MAX_TEXT_CHUNKS:
        found.texts.setdefault(key_text, text.decode("utf-8" if kind == b"iTXt" else "latin-1", "replace"))


def _inflate(data: bytes, found: Found) -> bytes:
    """Decompress at most TEXT_MAX_BYTES (a zlib bomb stops there)."""
    try:
        return zlib.decompressobj().decompress(data, TEXT_MAX_BYTES)
    except zlib.error as exc:
        found.problems.append(f"png: compressed text chunk is damaged ({exc})")
        return b""


def _walk_webp(data: bytes, found: Found) -> None:
    """RIFF chunks EXIF, "XMP " and C2PA."""
    if data[8:12] != b"WEBP":
        return
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos: pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8: pos + 8 + size]
        if kind == b"EXIF" and found.exif is None:
            found.exif = body[6:] if body.startswith(b"Exif\x00\x00") else body
            found.containers.add("exif")
        elif kind == b"XMP " and found.xmp is None:
            found.xmp = body
            found.containers.add("xmp")
        elif kind == b"C2PA":
            found.containers.add("webp-C2PA")
        pos += 8 + size + (size & 1)
