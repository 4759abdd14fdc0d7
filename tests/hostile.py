"""A deterministic corpus of hostile inputs for `facecheck scan` and `train`, for tests and the nightly fuzz run.

`make_corpus(folder, n, seed)` writes `n` input files (cycling through every category below, so any
n >= len(CATEGORIES) covers them all) and a manifest beside the folder saying what each file is and
what a scan must make of it:

- `expect="error"`: the file cannot be an image (zero bytes, a bomb header, a looping link, ...):
  exactly one `error` row;
- `expect="ok"`: a valid image however odd (CMYK, 16-bit, 1x1, absurd EXIF, hostile name):
  a `no_face` (or face) row, never an `error` row;
- `expect="any"`: damaged at random (truncated, bit-flipped): either, but one row and no crash.

Entries with `is_input=False` are traps that are not files to scan (a folder symlink loop, a FIFO);
they must produce no row and must not hang the walk. A folder that cannot be listed is an input: it
gets an error row of its own.

`make_tiny_folder(folder, n)` writes the folder of many tiny files. Run as a script to write a corpus:
`python tests/hostile.py OUT_DIR -n 500 --seed 0`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import struct
import sys
import threading
import zlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

MANIFEST_SUFFIX = ".manifest.json"
EXPECTS = ("error", "ok", "any")
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "TIFF": "tif", "BMP": "bmp"}
_EXTS = ("jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp", "heic", "JPG", "PNG")


@dataclass(frozen=True)
class Entry:
    """One thing in the corpus: `name` relative to the corpus folder (str, surrogate-escaped bytes)."""

    name: str
    category: str
    variant: str
    expect: str
    is_input: bool = True


# --- encoders --------------------------------------------------------------------------------------


def _pixels(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _small_image(rng: np.random.Generator, fmt: str) -> bytes:
    w, h = int(rng.integers(8, 97)), int(rng.integers(8, 97))
    img = Image.fromarray(_pixels(rng, w, h))
    if fmt == "GIF":
        img = img.convert("P")
    return _encode(img, fmt, **({"quality": int(rng.integers(30, 96))} if fmt in ("JPEG", "WEBP") else {}))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_header(width: int, height: int, *, bit_depth: int = 8, colour: int = 2, idat: bytes | None = None) -> bytes:
    """A PNG that claims width x height pixels but carries almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _jpeg_header(width: int, height: int) -> bytes:
    """SOI, a baseline SOF claiming width x height, a scan header and a few bytes of data."""
    sof = struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0])
    sos = struct.pack(">HB", 12, 3) + bytes([1, 0, 2, 0x11, 3, 0x11, 0, 63, 0])
    return b"\xff\xd8\xff\xc0" + sof + b"\xff\xda" + sos + b"\x12\x34" * 16 + b"\xff\xd9"


def _gif_header(width: int, height: int) -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + image + b"\x08\x02\x4c\x01\x00\x3b"


def _bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + info + b"\x00" * 16


def _webp_vp8x(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (
        height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def tiff_ifds(ifds: list[list[tuple[int, int, int, bytes]]], *, order: str = "<",
              links: dict[tuple[int, int], int] | None = None) -> bytes:
    """Raw TIFF bytes from IFDs of (tag, type, count, payload) entries, laid out one after another.

    `links[(i, tag)] = j` stores IFD j's offset as the value of `tag` in IFD i (an EXIF sub-IFD
    pointer); the last IFD of each list chains to none. Payloads over 4 bytes go after their IFD.
    """
    links = links or {}
    sizes = [2 + 12 * len(e) + 4 + sum(len(p) + len(p) % 2 for *_, p in e if len(p) > 4) for e in ifds]
    offsets = [8 + sum(sizes[:i]) for i in range(len(ifds))]
    out = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    for i, entries in enumerate(ifds):
        data_at = offsets[i] + 2 + 12 * len(entries) + 4
        head, data = struct.pack(order + "H", len(entries)), b""
        for tag, typ, count, payload in entries:
            if (i, tag) in links:
                payload = struct.pack(order + "I", offsets[links[(i, tag)]])
            if len(payload) <= 4:
                head += struct.pack(order + "HHI", tag, typ, count) + payload.ljust(4, b"\x00")
            else:
                head += struct.pack(order + "HHII", tag, typ, count, data_at + len(data))
                data += payload + b"\x00" * (len(payload) % 2)
        out += head + struct.pack(order + "I", 0) + data
    return out


def _tiff_header(width: int, height: int) -> bytes:
    e = [(256, 4, 1, struct.pack("<I", width)), (257, 4, 1, struct.pack("<I", height)), (258, 3, 1, b"\x08\x00"),
         (259, 3, 1, b"\x01\x00"), (262, 3, 1, b"\x01\x00"), (273, 4, 1, struct.pack("<I", 8)),
         (277, 3, 1, b"\x01\x00"), (278, 4, 1, struct.pack("<I", height)), (279, 4, 1, struct.pack("<I", 16))]
    return tiff_ifds([e])


# --- categories ------------------------------------------------------------------------------------
# Each maker gets (rng, j) -- j counts the entries of its category so far -- and returns
# (variant, expect, ext, content). content is bytes, or a callable(path) that makes the entry itself.


def _truncated(rng, j):
    fmt = list(_FORMATS)[j % len(_FORMATS)]
    data = _small_image(rng, fmt)
    cut = int(rng.integers(0, min(len(data), 64))) if j % 4 == 0 else int(rng.integers(1, len(data)))
    return f"{fmt.lower()} cut at {cut}/{len(data)}", "any", _FORMATS[fmt], data[:cut]


def _bitflip(rng, j):
    fmt = list(_FORMATS)[j % len(_FORMATS)]
    data = bytearray(_small_image(rng, fmt))
    # Half the flips land in the first 64 bytes, where the headers are.
    n = int(rng.integers(1, 33))
    where = np.where(rng.random(n) < 0.5, rng.integers(0, min(64, len(data)), n), rng.integers(0, len(data), n))
    for pos, bit in zip(where, rng.integers(0, 8, n)):
        data[int(pos)] ^= 1 << int(bit)
    return f"{fmt.lower()} {n} bits flipped", "any", _FORMATS[fmt], bytes(data)


def _zero_byte(rng, j):
    return "zero bytes", "error", _EXTS[j % len(_EXTS)], b""


_NOT_IMAGES = (
    ("text", b"this is not an image\n" * 3),
    ("html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
    ("pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
    ("zip", b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\x00" * 18),
    ("elf", b"\x7fELF\x02\x01\x01" + b"\x00" * 57),
    ("png signature only", b"\x89PNG\r\n\x1a\n"),
    ("jpeg markers only", b"\xff\xd8\xff\xd9"),
    ("gif signature only", b"GIF89a"),
    ("riff without webp", b"RIFF\x04\x00\x00\x00WAVE"),
    ("tiff header only", b"II*\x00\x08\x00\x00\x00"),
    ("tiff ifd loop", b"II*\x00\x08\x00\x00\x00\x00\x00\x08\x00\x00\x00"),
)


def _wrong_extension(rng, j):
    k = j % (len(_NOT_IMAGES) + 4)
    if k < len(_NOT_IMAGES):
        variant, data = _NOT_IMAGES[k]
        return f"{variant} named as an image", "error", _EXTS[j % len(_EXTS)], data
    if k == len(_NOT_IMAGES):
        return "random bytes", "any", _EXTS[j % len(_EXTS)], rng.bytes(int(rng.integers(1, 4096)))
    fmt, ext = [("PNG", "jpg"), ("JPEG", "png"), ("WEBP", "gif")][k - len(_NOT_IMAGES) - 1]
    return f"{fmt.lower()} named .{ext}", "ok", ext, _small_image(rng, fmt)


_BOMBS = (
    ("png 50000x50000", "png", lambda: png_header(50_000, 50_000)),
    ("png 2147483647x1", "png", lambda: png_header(2**31 - 1, 1)),
    ("png 0x0", "png", lambda: png_header(0, 0)),
    ("png 16-bit 30000x30000", "png", lambda: png_header(30_000, 30_000, bit_depth=16)),
    ("png 10000x10000 header only (under the limit)", "png", lambda: png_header(10_000, 10_000)),
    ("jpeg 50000x50000", "jpg", lambda: _jpeg_header(50_000, 50_000)),
    ("jpeg 65535x65535", "jpg", lambda: _jpeg_header(65_535, 65_535)),
    ("jpeg 10000x10000 header only (under the limit)", "jpg", lambda: _jpeg_header(10_000, 10_000)),
    ("gif 65535x65535", "gif", lambda: _gif_header(65_535, 65_535)),
    ("bmp 50000x50000", "bmp", lambda: _bmp_header(50_000, 50_000)),
    ("bmp -50000x-50000", "bmp", lambda: _bmp_header(-50_000, -50_000)),
    ("tiff 50000x50000", "tif", lambda: _tiff_header(50_000, 50_000)),
    ("webp vp8x 16384x16384", "webp", lambda: _webp_vp8x(16_384, 16_384)),
)


def _bomb(rng, j):
    variant, ext, make = _BOMBS[j % len(_BOMBS)]
    return variant, "error", ext, make()


def _mode_image(rng, mode: str, w: int = 40, h: int = 32) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(-(2**31), 2**31 - 1, (h, w), dtype=np.int32))
    if mode == "F":
        arr = rng.normal(0, 1e6, (h, w)).astype(np.float32)
        arr.flat[:4] = [np.nan, np.inf, -np.inf, 3e38]
        return Image.fromarray(arr)
    return Image.fromarray(_pixels(rng, w, h)).convert(mode)


def _animated(rng, fmt: str) -> bytes:
    frames = [Image.fromarray(_pixels(rng, 24, 20)) for _ in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)


_MODES = (
    ("cmyk jpeg", "jpg", lambda rng: _encode(_mode_image(rng, "CMYK"), "JPEG")),
    ("cmyk tiff", "tif", lambda rng: _encode(_mode_image(rng, "CMYK"), "TIFF")),
    ("16-bit png", "png", lambda rng: _encode(_mode_image(rng, "I;16"), "PNG")),
    ("16-bit tiff", "tif", lambda rng: _encode(_mode_image(rng, "I;16"), "TIFF")),
    ("32-bit integer tiff", "tif", lambda rng: _encode(_mode_image(rng, "I"), "TIFF")),
    ("float tiff with nan and inf", "tif", lambda rng: _encode(_mode_image(rng, "F"), "TIFF")),
    ("palette png", "png", lambda rng: _encode(_mode_image(rng, "P"), "PNG")),
    ("palette png with transparency", "png", lambda rng: _encode(_mode_image(rng, "P"), "PNG", transparency=0)),
    ("palette gif", "gif", lambda rng: _encode(_mode_image(rng, "P"), "GIF")),
    ("rgba png", "png", lambda rng: _encode(_mode_image(rng, "RGBA"), "PNG")),
    ("rgba webp", "webp", lambda rng: _encode(_mode_image(rng, "RGBA"), "WEBP", lossless=True)),
    ("grey + alpha png", "png", lambda rng: _encode(_mode_image(rng, "LA"), "PNG")),
    ("1-bit png", "png", lambda rng: _encode(_mode_image(rng, "1"), "PNG")),
    ("1-bit tiff", "tif", lambda rng: _encode(_mode_image(rng, "1"), "TIFF")),
    ("grey jpeg", "jpg", lambda rng: _encode(_mode_image(rng, "L"), "JPEG")),
    ("ycbcr tiff", "tif", lambda rng: _encode(_mode_image(rng, "YCbCr"), "TIFF")),
    ("lab tiff", "tif", lambda rng: _encode(_mode_image(rng, "LAB"), "TIFF")),
    ("animated gif", "gif", lambda rng: _animated(rng, "GIF")),
    ("animated webp", "webp", lambda rng: _animated(rng, "WEBP")),
    ("animated png", "png", lambda rng: _animated(rng, "PNG")),
    ("rgb bmp", "bmp", lambda rng: _encode(_mode_image(rng, "RGB"), "BMP")),
    ("progressive jpeg", "jpg", lambda rng: _encode(_mode_image(rng, "RGB"), "JPEG", progressive=True)),
)


def _mode(rng, j):
    variant, ext, make = _MODES[j % len(_MODES)]
    return variant, "ok", ext, make(rng)


_SIZES = ((1, 1), (20_000, 20), (20, 20_000), (2, 1), (1, 3), (65_500, 1), (1, 30_000))


def _size(rng, j):
    (w, h), fmt = _SIZES[j % len(_SIZES)], ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP")[j // len(_SIZES) % 6]
    if fmt == "WEBP" and max(w, h) > 16_383:
        fmt = "PNG"  # WebP cannot hold more than 16383 px a side
    if fmt == "JPEG" and max(w, h) > 65_500:
        fmt = "PNG"
    img = Image.fromarray(np.full((h, w, 3), int(rng.integers(0, 256)), np.uint8))
    return f"{w}x{h} {fmt.lower()}", "ok", _FORMATS[fmt], _encode(img.convert("P") if fmt == "GIF" else img, fmt)


def _short(v: int, order: str = "<") -> bytes:
    return struct.pack(order + "H", v)


def _rational(num: int, den: int, signed: bool = False) -> bytes:
    return struct.pack("<ii" if signed else "<II", num, den)


_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_PTR = (_EXIF_IFD, 4, 1, b"\x00\x00\x00\x00")  # filled in by tiff_ifds' links


def _with_exif(exif_ifd: list) -> bytes:
    """IFD0 (a camera make and the EXIF pointer) followed by the EXIF IFD."""
    return tiff_ifds([[(0x010F, 2, 6, b"Canon\x00"), _PTR], exif_ifd], links={(0, _EXIF_IFD): 1})


_EXIFS = (
    ("orientation 9", lambda: tiff_ifds([[(0x0112, 3, 1, _short(9))]])),
    ("orientation 0", lambda: tiff_ifds([[(0x0112, 3, 1, _short(0))]])),
    ("orientation 65535", lambda: tiff_ifds([[(0x0112, 3, 1, _short(65535))]])),
    ("orientation as text", lambda: tiff_ifds([[(0x0112, 2, 4, b"six\x00")]])),
    ("orientation x1000 values", lambda: tiff_ifds([[(0x0112, 3, 1000, _short(6) * 1000)]])),
    ("orientation as signed long -1", lambda: tiff_ifds([[(0x0112, 9, 1, struct.pack("<i", -1))]])),
    ("orientation 6, big-endian", lambda: tiff_ifds([[(0x0112, 3, 1, _short(6, ">"))]], order=">")),
    ("negative focal length", lambda: _with_exif([(0x920A, 10, 1, _rational(-50, 1, True))])),
    ("focal length 50/0", lambda: _with_exif([(0x920A, 5, 1, _rational(50, 0))])),
    ("f-number 0/0, exposure 1/0, iso 0", lambda: _with_exif(
        [(0x829A, 5, 1, _rational(1, 0)), (0x829D, 5, 1, _rational(0, 0)), (0x8827, 3, 1, _short(0))])),
    ("exposure -1/-0 signed", lambda: _with_exif([(0x829A, 10, 1, _rational(-1, 0, True))])),
    ("iso with zero values", lambda: _with_exif([(0x8827, 3, 0, b"")])),
    ("apex shutter 1e9", lambda: _with_exif([(0x9201, 10, 1, _rational(-10**9, 1, True))])),
    ("60 kB image description", lambda: tiff_ifds([[(0x010E, 2, 60_000, b"A" * 59_999 + b"\x00")]])),
    ("30 kB make, 30 kB model", lambda: tiff_ifds([[(0x010F, 2, 30_000, b"M" * 30_000),
                                                   (0x0110, 2, 30_000, b"\xff" * 30_000)]])),
    ("60 kB user comment", lambda: _with_exif([(0x9286, 7, 60_000, b"ASCII\x00\x00\x00" + b"x" * 59_992)])),
    ("make with control and non-utf-8 bytes", lambda: tiff_ifds(
        [[(0x010F, 2, 24, b"\x1b[2J\xff\xfe\x00bad\r\n=cmd|' /C calc'!A0\x00")]])),
    ("ascii count 0xffffffff", lambda: tiff_ifds([[(0x010E, 2, 0xFFFFFFFF, b"abcdefgh")]])),
    ("65535 entries, no data", lambda: b"II*\x00\x08\x00\x00\x00\xff\xff" + b"\x00" * 24),
    ("first ifd past the end", lambda: b"II*\x00" + struct.pack("<I", 0xFFFFFFF0)),
    ("next-ifd loop", lambda: tiff_ifds([[(0x0112, 3, 1, _short(1))]])[:-4] + struct.pack("<I", 8)),
    ("exif ifd pointing at itself", lambda: tiff_ifds([[_PTR]], links={(0, _EXIF_IFD): 0})),
    ("gps ifd past the end", lambda: tiff_ifds([[(_GPS_IFD, 4, 1, struct.pack("<I", 0x7FFFFFF0))]])),
    ("unknown type 99", lambda: tiff_ifds([[(0x0112, 99, 1, _short(6))]])),
    ("garbage", lambda: bytes(range(256)) * 4),
    ("empty", lambda: b""),
)


def _exif(rng, j):
    variant, make = _EXIFS[j % len(_EXIFS)]
    blob = b"Exif\x00\x00" + make()
    fmt = ("JPEG", "PNG", "WEBP")[j // len(_EXIFS) % 3]
    img = Image.fromarray(_pixels(rng, 40, 30))
    return f"{variant} in {fmt.lower()}", "ok", _FORMATS[fmt], _encode(img, fmt, exif=blob)


def _png_with(rng, chunks: list[tuple[bytes, bytes]]) -> bytes:
    data = _encode(Image.fromarray(_pixels(rng, 32, 24)), "PNG")
    end = data.rindex(b"IEND") - 4
    return data[:end] + b"".join(_chunk(k, p) for k, p in chunks) + data[end:]


def _jpeg_with(rng, segments: list[bytes]) -> bytes:
    data = _encode(Image.fromarray(_pixels(rng, 32, 24)), "JPEG")
    return data[:2] + b"".join(segments) + data[2:]


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


_ENTITY_BOMB = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(8))
                + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&i;</x:xmpmeta>')

@lru_cache(maxsize=None)
def _zeros_deflated(n: int) -> bytes:
    return zlib.compress(b"\x00" * n, 9)


_METADATA = (
    ("ztxt bomb (100 MB of zeros)", "any",
     lambda rng: _png_with(rng, [(b"zTXt", b"parameters\x00\x00" + _zeros_deflated(100_000_000))])),
    ("itxt 5 MB", "any", lambda rng: _png_with(rng, [(b"iTXt", b"Comment\x00\x00\x00\x00\x00" + b"y" * 5_000_000)])),
    ("xmp entity bomb", "ok",
     lambda rng: _png_with(rng, [(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + _ENTITY_BOMB)])),
    ("iccp bomb", "any", lambda rng: _png_with(rng, [(b"iCCP", b"icc\x00\x00" + _zeros_deflated(50_000_000))])),
    ("chunk claiming 2 GB", "any",
     lambda rng: _png_with(rng, [])[:-12] + struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"k\x00v" * 4),
    ("bad crc on ihdr", "any", lambda rng: (lambda d: d[:29] + bytes([d[29] ^ 0xFF]) + d[30:])(_png_with(rng, []))),
    ("200 tEXt chunks", "ok", lambda rng: _png_with(rng, [(b"tEXt", b"k%d\x00v" % i) for i in range(200)])),
    ("c2pa garbage in caBX", "ok", lambda rng: _png_with(rng, [(b"caBX", b"jumb" + rng.bytes(2000))])),
    ("jpeg with 500 app segments", "ok", lambda rng: _jpeg_with(rng, [_segment(0xE3, b"x" * 100)] * 500)),
    ("jpeg comment 65 kB", "ok", lambda rng: _jpeg_with(rng, [_segment(0xFE, b"\xff" * 65_000)])),
    ("jpeg garbage mpf", "any", lambda rng: _jpeg_with(rng, [_segment(0xE2, b"MPF\x00" + rng.bytes(200))])),
    ("jpeg xmp entity bomb", "ok",
     lambda rng: _jpeg_with(rng, [_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + _ENTITY_BOMB)])),
    ("jpeg app11 jumbf garbage", "ok", lambda rng: _jpeg_with(rng, [_segment(0xEB, b"JP\x00\x01" + rng.bytes(500))])),
    ("jpeg icc garbage", "any",
     lambda rng: _jpeg_with(rng, [_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + rng.bytes(300))])),
    ("jpeg segment length 0", "any", lambda rng: _jpeg_with(rng, [b"\xff\xe1\x00\x00"])),
)


# JUMBF boxes (the C2PA manifest store's container) that lie about their size or contain themselves, in APP11.
_C2PA_UUID = b"c2pa" + bytes.fromhex("00110010800000aa00389b71")


def _box(kind: bytes, payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">I", 8 + len(payload) if size is None else size) + kind + payload


def _jumd(label: bytes = b"c2pa") -> bytes:
    return _box(b"jumd", _C2PA_UUID + b"\x03" + label + b"\x00")


def _app11(store: bytes, seq: int = 1) -> bytes:
    return _segment(0xEB, b"JP\x00\x01" + struct.pack(">I", seq) + store)


def _nested(depth: int) -> bytes:
    store = b""
    for _ in range(depth):
        store = _box(b"jumb", _jumd() + store)
    return store


def _split(store: bytes, size: int = 65_000) -> list[bytes]:
    return [_app11(store[i: i + size], i // size + 1) for i in range(0, len(store), size)]


REMOTE_URL = "https://example.invalid/manifests/remote.c2pa"
_REMOTE_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
               b'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="'
               + REMOTE_URL.encode() + b'"/></rdf:RDF></x:xmpmeta>')
JUMBF = (
    ("jumbf truncated mid-box", lambda rng: _jpeg_with(rng, [_app11(_box(b"jumb", _jumd() + rng.bytes(400), 4000))])),
    ("jumbf claiming 4 GB", lambda rng: _jpeg_with(rng, [_app11(_box(b"jumb", _jumd() + rng.bytes(64), 0xFFFFFFFF))])),
    ("jumbf xlbox claiming 2**63 bytes",
     lambda rng: _jpeg_with(rng, [_app11(struct.pack(">I4sQ", 1, b"jumb", 2**63) + _jumd() + rng.bytes(64))])),
    ("jumbf self-referencing (size 0, to the end, inside itself)",
     lambda rng: _jpeg_with(rng, [_app11(_box(b"jumb", _jumd() + _box(b"jumb", _jumd() + _box(b"jumb", b"", 0), 0),
                                              0))])),
    ("jumbf nested 1500 deep", lambda rng: _jpeg_with(rng, [_app11(_nested(1500))])),
    ("jumbf of 2.6 MB over 40 app11 segments",
     lambda rng: _jpeg_with(rng, _split(_box(b"jumb", _jumd() + rng.bytes(2_600_000))))),
    ("remote manifest reference (never fetched)",
     lambda rng: _jpeg_with(rng, [_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + _REMOTE_XMP)])),
)
_METADATA += tuple((variant, "ok", make) for variant, make in JUMBF)


@contextlib.contextmanager
def network_canary(monkeypatch):
    """Catch any network access: every proxy-aware HTTP client (the C2PA SDK's among them) is sent to a local
    listener, and Python's sockets refuse to connect. Yields the list of what reached the listener or was refused."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    attempts: list = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    attempts.append(conn.recv(256))

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def refuse(*args, **kwargs):
        attempts.append(("python socket", args))
        raise OSError("network access attempted")

    for target, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection")):
        monkeypatch.setattr(target, name, refuse)
    try:
        yield attempts
    finally:
        stop.set()
        thread.join(2)
        server.close()


def _metadata(rng, j):
    variant, expect, make = _METADATA[j % len(_METADATA)]
    return variant, expect, "jpg" if variant.startswith("jpeg") else "png", make(rng)


# Names: bytes, with an image extension appended. Non-UTF-8, formula starters, controls, long.
_NAMES = (
    b"caf\xe9", b"\xff\xfe\xfd", b"\xed\xa0\x80lone-surrogate", b"\xc3\x28invalid", b"=cmd|' -C calc'!A0",
    b"+1+1", b"-2+3", b"@SUM(A1)", b"\tstarts-with-tab", b"\rstarts-with-cr", b"new\nline", b"comma,and\"quote",
    b"\x1b[2J\x1b]0;pwned\x07escape", "\u202eexe.gpj".encode(), "e\u0301-nfd".encode(), "\u00e9-nfc".encode(),
    b"-r", b"--csv", b" leading space", b"trailing space ", b"x" * 240, "\U0001f600-emoji".encode(),
    b"CON", b"a\\b", b"*?[glob]",
)


def _name(rng, j):
    raw = _NAMES[j % len(_NAMES)]
    fmt = ("PNG", "JPEG", "GIF")[j // len(_NAMES) % 3]
    return "name " + repr(raw), "ok", _FORMATS[fmt], _small_image(rng, fmt), raw


def _symlink(rng, j):
    k = j % 9

    def link(target):
        return lambda path: os.symlink(target, path)

    if k == 0:
        return "link to itself", "error", "jpg", lambda p: os.symlink(os.path.basename(p), p)
    if k == 1:  # a -> b -> a
        def pair(path):
            other = path + b".other.jpg"
            os.symlink(os.path.basename(other), path)
            os.symlink(os.path.basename(path), other)
        return "two-link cycle (the other end is an input too)", "error", "jpg", pair
    if k == 2:
        return "dangling link", "error", "png", link(b"does-not-exist.png")
    if k == 3:
        return "link to a folder", "error", "jpg", link(b".")
    if k == 4:
        return "link to /etc/passwd", "error", "gif", link(b"/etc/passwd")
    if k == 5:
        return "link to /dev/zero", "error", "jpg", link(b"/dev/zero")
    if k == 6:
        def fifo_link(path):
            fifo = path + b".fifo"
            os.mkfifo(fifo)  # not an input itself (not a regular file); the link to it is
            os.symlink(os.path.basename(fifo), path)
        return "link to a FIFO (reading would block)", "error", "png", fifo_link
    if k == 7:
        # Readable by nobody, root included: reading address 0 of one's own memory fails (EIO).
        target = b"/proc/self/mem" if os.path.exists("/proc/self/mem") else b"/nonexistent"
        return "link to /proc/self/mem (unreadable even to root)", "error", "jpg", link(target)
    def linked_image(path):
        Path(os.fsdecode(path + b".target")).write_bytes(_small_image(rng, "PNG"))
        os.symlink(os.path.basename(path) + b".target", path)

    return "link to a valid image", "ok", "png", linked_image


def _unreadable(rng, j):
    data = _small_image(rng, "PNG")

    def write_0000(path):
        Path(os.fsdecode(path)).write_bytes(data)
        os.chmod(path, 0)

    # Root reads a 0000 file all the same: then it is a valid image.
    return "mode 0000", "ok" if os.geteuid() == 0 else "error", "png", write_0000


CATEGORIES = {
    "truncated": _truncated, "bitflip": _bitflip, "zero_byte": _zero_byte, "wrong_extension": _wrong_extension,
    "bomb": _bomb, "mode": _mode, "size": _size, "exif": _exif, "metadata": _metadata, "name": _name,
    "symlink": _symlink, "unreadable": _unreadable,
}
# Bit flips and truncation are the open-ended part: give them more of the corpus.
_WEIGHTS = {"truncated": 3, "bitflip": 4}
_SCHEDULE = [c for c in CATEGORIES for _ in range(_WEIGHTS.get(c, 1))]


def _traps(folder: bytes) -> list[Entry]:
    """A folder symlink loop and a FIFO (not inputs), and a folder of mode 0000."""
    traps = []
    loop = os.path.join(folder, b"loop")
    os.makedirs(loop)
    os.symlink(b"..", os.path.join(loop, b"up"))
    os.symlink(b"..", os.path.join(loop, b"up2"))
    traps.append(Entry("loop/up", "symlink", "folder link back up (twice): 2**depth paths if followed", "none", False))
    os.mkfifo(os.path.join(folder, b"fifo.jpg"))
    traps.append(Entry("fifo.jpg", "unreadable", "a FIFO named like an image", "none", False))
    locked = os.path.join(folder, b"locked")
    os.makedirs(locked)
    Path(os.fsdecode(os.path.join(locked, b"inside.png"))).write_bytes(b"")
    os.chmod(locked, 0)
    # Root lists it anyway, and then the file inside is a zero-byte input; others get the folder as an error row.
    if os.geteuid() == 0:
        traps.append(Entry("locked/inside.png", "unreadable", "zero bytes in a folder of mode 0000", "error"))
    else:
        traps.append(Entry("locked", "unreadable", "folder of mode 0000 (cannot be listed)", "error"))
    return traps


def make_corpus(folder: str | os.PathLike, n: int, seed: int = 0, *, big: bool = False,
                categories: tuple[str, ...] | None = None, manifest: str | os.PathLike | None = None) -> list[Entry]:
    """Write `n` hostile input files (plus a few non-input traps) under `folder`; return the manifest.

    Files go into nested sub-folders (scan them with -r); `categories` keeps only some of CATEGORIES.
    `big` adds images that decode to nearly the pixel limit (hundreds of MB each; for memory
    measurements, not for CI). The manifest is also written as JSON to `manifest` (default:
    FOLDER.manifest.json beside the folder).
    """
    schedule = [c for c in _SCHEDULE if categories is None or c in categories]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    root = os.fsencode(folder)
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    entries = _traps(root)
    for i in range(n):
        category = schedule[i % len(schedule)]
        j = counts[category] = counts.get(category, -1) + 1
        made = CATEGORIES[category](rng, j)
        variant, expect, ext, content = made[:4]
        stem = made[4] if len(made) > 4 else category.encode()
        sub = b"d%02d" % (i % 17) + (b"/deeper/still" if i % 50 == 49 else b"")
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        rel = sub + b"/%05d_" % i + stem + b"." + ext.encode()
        path = os.path.join(root, rel)
        if callable(content):
            content(path)
        else:
            with open(path, "wb") as f:
                f.write(content)
        entries.append(Entry(os.fsdecode(rel), category, variant, expect))
        if category == "symlink" and variant.startswith("two-link"):
            entries.append(Entry(os.fsdecode(rel + b".other.jpg"), category, "two-link cycle, other end", "error"))
    if big:
        entries += _big_images(folder / "big", seed)
    out = Path(manifest) if manifest else folder.with_name(folder.name + MANIFEST_SUFFIX)
    out.write_text(json.dumps([asdict(e) for e in entries], indent=1) + "\n", encoding="utf-8")
    return entries


def _big_images(folder: Path, seed: int) -> list[Entry]:
    """Small files that decode to 100-120 million pixels: what a scan can be made to hold in memory."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    entries = []
    side = 10_950  # 119.9 Mpx, just under the default 120 Mpx limit
    cases = [
        ("rgb png 10950x10950", "png", lambda: Image.new("RGB", (side, side), (90, 120, 150)), "PNG", {}),
        ("16-bit png 10950x10950", "png", lambda: Image.new("I;16", (side, side), 30_000), "PNG", {}),
        ("palette png with transparency 10950x10950", "png", lambda: Image.new("P", (side, side), 3), "PNG",
         {"transparency": 3}),
        ("rgba png 10950x10950", "png", lambda: Image.new("RGBA", (side, side), (1, 2, 3, 100)), "PNG", {}),
        ("cmyk jpeg 10950x10950", "jpg", lambda: Image.new("CMYK", (side, side), (10, 20, 30, 40)), "JPEG",
         {"quality": 20}),
        ("rgb jpeg 10950x10950 rotated by exif", "jpg", lambda: Image.new("RGB", (side, side), (200, 100, 50)), "JPEG",
         {"quality": 20, "exif": b"Exif\x00\x00" + tiff_ifds([[(0x0112, 3, 1, _short(6))]])}),
        ("float tiff 5000x5000", "tif", lambda: Image.new("F", (5000, 5000), 1.5), "TIFF",
         {"compression": "tiff_adobe_deflate"}),
        ("grey gif 16000x7000", "gif", lambda: Image.new("L", (16_000, 7_000), 7), "GIF", {}),
    ]
    for i, (variant, ext, make, fmt, kwargs) in enumerate(cases):
        img = make()
        name = f"{i:02d}_big.{ext}"
        img.save(folder / name, format=fmt, **kwargs)
        del img
        entries.append(Entry(f"big/{name}", "bomb", variant + " (decodes under the limit)", "ok"))
    # Thousands of frames, only the first is read.
    frames = [Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(2000)]
    frames[0].save(folder / "90_frames.gif", save_all=True, append_images=frames[1:], duration=10)
    entries.append(Entry("big/90_frames.gif", "mode", "gif with 2000 frames", "ok"))
    return entries


def make_tiny_folder(folder: str | os.PathLike, n: int = 10_000, seed: int = 0) -> list[Path]:
    """`n` tiny images (4-16 px, PNG / GIF / BMP / JPEG) in one flat folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fmts = ("PNG", "GIF", "BMP", "JPEG")
    paths = []
    for i in range(n):
        fmt = fmts[i % len(fmts)]
        w, h = (int(v) for v in rng.integers(4, 17, 2))
        img = Image.fromarray(_pixels(rng, w, h))
        path = folder / f"t{i:05d}.{_FORMATS[fmt]}"
        img.convert("P" if fmt == "GIF" else "RGB").save(path, format=fmt)
        paths.append(path)
    return paths


def load_manifest(folder: str | os.PathLike) -> list[Entry]:
    """Read the manifest written beside `folder` by make_corpus."""
    folder = Path(folder)
    data = json.loads(folder.with_name(folder.name + MANIFEST_SUFFIX).read_text(encoding="utf-8"))
    return [Entry(**d) for d in data]


def unlock(folder: str | os.PathLike) -> None:
    """Give back the permissions make_corpus took away, so the folder can be deleted."""
    for dirpath, dirnames, filenames in os.walk(os.fsencode(folder)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path) and not stat.S_ISFIFO(os.lstat(path).st_mode):
                os.chmod(path, 0o755)
    locked = os.path.join(os.fsencode(folder), b"locked")
    if os.path.isdir(locked):
        os.chmod(locked, 0o755)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write a corpus of hostile inputs for facecheck scan.")
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--big", action="store_true", help="add images that decode to ~120 Mpx")
    args = parser.parse_args()
    made = make_corpus(args.out, args.n, args.seed, big=args.big)
    print(f"{len(made)} entries in {args.out}; manifest {args.out.with_name(args.out.name + MANIFEST_SUFFIX)}",
          file=sys.stderr)
