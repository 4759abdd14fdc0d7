"""Find input files and decode them into RGB arrays, refusing what cannot be read safely."""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

from ..config import IMAGE_EXTENSIONS
from ..errors import ConfigError, ImageReadError

_GLOB_CHARS = set("*?[")
# ISO-BMFF image brands (the `ftyp` box): AVIF is decoded by Pillow itself (11.2+), HEIC/HEIF by pillow-heif.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"heif", b"mif1", b"msf1"}
HEIF_REMEDY = "pip install pillow-heif (or facecheck[heif])"


def _norm_ext(ext: str) -> str:
    return "." + ext.lower().lstrip(".")


def _extensions(extensions: Iterable[str] | None) -> tuple[str, ...]:
    """The extensions a folder walk takes: `extensions` normalised ("JPG", "jpg" -> ".jpg"), else the image ones."""
    return tuple(_norm_ext(e) for e in extensions) if extensions else IMAGE_EXTENSIONS


def _walk(folder: Path, recursive: bool) -> Iterator[tuple[Path, bool]]:
    """Yield (path, explicit) for the files of `folder` (and below when recursive), never following
    symlinked folders. A folder that cannot be listed is yielded itself, as explicit: it then gets an
    error row instead of its files vanishing from the results unnoticed."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        yield folder, True
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _walk(Path(entry.path), recursive)
            elif entry.is_symlink() or entry.is_file():  # a looping link raises in is_file()
                yield Path(entry.path), False
        except OSError:
            continue


def _glob(pattern: str, recursive: bool) -> list[str]:
    """Expand a glob; with `recursive`, `**` spans folders but never enters symlinked ones.

    glob.glob follows symlinked folders under `**`, so a link loop multiplies paths without
    end; pathlib's `**` does not follow them. Hidden names stay unmatched, as with glob.glob.
    """
    if not (recursive and "**" in pattern):
        return sorted(glob.glob(pattern))
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if _GLOB_CHARS & set(part))
    base = Path(*parts[:first]) if first else Path(".")
    matches = []
    for match in base.glob(str(Path(*parts[first:]))):
        if not any(part.startswith(".") for part in match.relative_to(base).parts):
            matches.append(str(match))
    return sorted(matches)


def find_images(
    paths: Iterable[str | os.PathLike],
    *,
    recursive: bool = False,
    extensions: Iterable[str] | None = None,
) -> list[Path]:
    """Expand files, folders and quoted globs into a sorted, de-duplicated list of files.

    Files named explicitly are kept whatever their extension (so a broken file is reported,
    not skipped); files found in folders or by globs are filtered by `extensions`.
    Raises ConfigError for a path that does not exist and matches nothing.
    """
    exts = _extensions(extensions)
    found: dict[str, Path] = {}

    def add(p: Path, explicit: bool) -> None:
        if explicit or p.suffix.lower() in exts:
            # Keyed by absolute path, so `a.jpg` and `/abs/a.jpg` count once.
            found.setdefault(os.path.abspath(p), p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f, explicit in _walk(p, recursive):
                add(f, explicit)
        elif p.exists() or p.is_symlink():
            add(p, explicit=True)
        elif _GLOB_CHARS & set(str(raw)):
            matches = _glob(str(raw), recursive)
            if not matches:
                raise ConfigError(f"{raw}: no file matches this pattern")
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    for f, explicit in _walk(mp, recursive):
                        add(f, explicit)
                else:
                    add(mp, explicit=False)
        else:
            raise ConfigError(f"{raw}: no such file or folder")
    return [found[k] for k in sorted(found)]


def empty_folders(
    paths: Iterable[str | os.PathLike], *, recursive: bool = False, extensions: Iterable[str] | None = None,
    limit: int = 100_000,
) -> list[tuple[Path, int]]:
    """(folder, images in its sub-folders) for each folder in `paths` with no image to scan.

    Without `recursive` the count says what `-r` would add (0: the folder holds no image at all); it
    stops at `limit` files looked at, so a hint never costs a walk of a whole disk.
    """
    exts = _extensions(extensions)
    out = []
    for raw in paths:
        folder = Path(raw)
        if not folder.is_dir() or any(f.suffix.lower() in exts or explicit for f, explicit in _walk(folder, recursive)):
            continue
        below = 0
        if not recursive:
            for i, (f, _) in enumerate(_walk(folder, True)):
                if i >= limit:
                    break
                below += f.suffix.lower() in exts
        out.append((folder, below))
    return out


def bmff_kind(head: bytes) -> str | None:
    """"AVIF" or "HEIC" for an ISO-BMFF image file (from its first bytes, the `ftyp` box), else None."""
    if head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    box = head[8: max(16, min(size, 256, len(head)))]
    brands = {box[:4]} | {box[i: i + 4] for i in range(8, len(box) - 3, 4)}
    return "AVIF" if brands & _AVIF_BRANDS else "HEIC" if brands & _HEIF_BRANDS else None


def register_heif() -> bool:
    """Have Pillow open HEIC/HEIF files through pillow-heif when it is installed; whether it is."""
    try:
        import pillow_heif
    except ImportError:
        return False
    if "HEIF" not in Image.OPEN:  # registered once per process (the opener is Pillow's plugin table)
        pillow_heif.register_heif_opener()
    return True


def _missing_decoder(path: Path, kind: str | None) -> str | None:
    """Why a BMFF image cannot be decoded here, naming the decoder it needs; None when it is not that."""
    if kind == "HEIC" and not register_heif():
        return f"{path}: HEIC/HEIF image, but no HEIF decoder is installed ({HEIF_REMEDY})"
    if kind == "AVIF" and not features.check("avif"):
        return f"{path}: AVIF image, but this Pillow has no AVIF decoder (Pillow 11.2 or later built with libavif)"
    return None


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a file for binary reading, refusing anything that is not a regular file (after symlinks).

    A folder walk keeps symlinks, and one can point at a FIFO (opening it waits forever for a writer)
    or a device (/dev/zero never ends): O_NONBLOCK makes the open return at once and fstat refuses
    them before a byte is read. Raises ImageReadError for those; OSError as open() would.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ImageReadError(f"{path}: is a folder, not an image")
        if not stat.S_ISREG(mode):
            kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else (
                "a socket")
            raise ImageReadError(f"{path}: is {kind}, not a regular file; refused")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
# Converted a band of rows at a time, so that a large image costs its decoded size plus the result,
# not three or four full-size copies (a 120 Mpx PNG of a few hundred kB once took 2.4-3.8 GB).
_BAND_PIXELS = 4_000_000
# Decoding holds about 7 bytes a pixel at its peak: one large image at a time, whatever `--jobs` is.
_LARGE_PIXELS = 16_000_000
_large_decode = threading.Lock()


def use_large_pillow_blocks() -> None:
    """Have Pillow allocate image memory in blocks of up to 64 MB (process-wide: the CLI calls it).

    glibc keeps a freed block under its 32 MB mmap ceiling in the thread's heap rather than giving
    it back, so with two decoding threads the freed parts of large images (Pillow's default blocks
    are 16 MB) stayed in RSS: 2.1 GB for near-limit images instead of 1.3 GB. Larger blocks are
    mapped and unmapped directly; an image under 64 MB is still one block of its own size.
    """
    Image.core.set_block_size(64 * 1024 * 1024)


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode (CMYK, 16-bit, palette, alpha, grey, float) to (H, W, 3) uint8 RGB."""
    width, height = img.size
    top = None
    if img.mode in _GREY_MODES:  # the full scale is the whole image's, not a band's
        top = 65535.0 if img.mode.startswith("I;16") or max(img.getextrema()) > 255 else 255.0
    rows = max(1, _BAND_PIXELS // max(1, width))
    if rows >= height:
        return _convert_band(img, top)
    out = np.empty((height, width, 3), np.uint8)
    for y in range(0, height, rows):
        out[y : y + rows] = _convert_band(img.crop((0, y, width, min(height, y + rows))), top)
    return out


def _convert_band(img: Image.Image, top: float | None) -> np.ndarray:
    if top is not None:
        arr = np.asarray(img, dtype=np.float64)
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on mid-grey so transparent areas carry no spurious edges.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike, *, max_pixels: int = 120_000_000) -> np.ndarray:
    """Decode an image file into an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Animated files give their first frame. Raises ImageReadError naming the file for
    anything that is not a complete, decodable image of at most `max_pixels` pixels.
    """
    path = Path(path)
    try:
        handle = open_regular(path)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied") from None
    except OSError as exc:  # a symlink loop, a name too long, an I/O error
        raise ImageReadError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if os.fstat(handle.fileno()).st_size == 0:
        handle.close()
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    kind = None
    try:
        with handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind = bmff_kind(handle.read(64))
            handle.seek(0)
            if kind == "HEIC":
                register_heif()
            with Image.open(handle) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise ImageReadError(f"{path}: image has no pixels ({width}x{height})")
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"{path}: {width}x{height} px is over the {max_pixels:,}-pixel limit "
                        "(possible decompression bomb)"
                    )
                img.seek(0)
                with _large_decode if width * height > _LARGE_PIXELS else contextlib.nullcontext():
                    img.load()
                    try:
                        # In place: without it, an unrotated image is copied whole.
                        ImageOps.exif_transpose(img, in_place=True)
                    except Exception:  # a malformed orientation tag must not lose the pixels
                        pass
                    arr = _to_uint8_rgb(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: refused, possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageReadError(_missing_decoder(path, kind) or f"{path}: not an image file facecheck can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ImageReadError(f"{path}: cannot decode image ({reason})") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{path}: decoded to an empty image")
    return arr
