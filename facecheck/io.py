"""Find input files and decode them into RGB arrays, refusing what cannot be read safely."""

from __future__ import annotations

import glob
import os
import warnings
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .config import IMAGE_EXTENSIONS
from .errors import ConfigError, ImageReadError

_GLOB_CHARS = set("*?[")


def _norm_ext(ext: str) -> str:
    return "." + ext.lower().lstrip(".")


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    """Yield the files of `folder` (and below when recursive), never following symlinked folders."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from _walk(Path(entry.path), recursive)
            elif entry.is_symlink() or entry.is_file():  # a looping link raises in is_file()
                yield Path(entry.path)
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
    exts = tuple(_norm_ext(e) for e in extensions) if extensions else IMAGE_EXTENSIONS
    found: dict[str, Path] = {}

    def add(p: Path, explicit: bool) -> None:
        if explicit or p.suffix.lower() in exts:
            # Keyed by absolute path, so `a.jpg` and `/abs/a.jpg` count once.
            found.setdefault(os.path.abspath(p), p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in _walk(p, recursive):
                add(f, explicit=False)
        elif p.exists() or p.is_symlink():
            add(p, explicit=True)
        elif _GLOB_CHARS & set(str(raw)):
            matches = _glob(str(raw), recursive)
            if not matches:
                raise ConfigError(f"{raw}: no file matches this pattern")
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    for f in _walk(mp, recursive):
                        add(f, explicit=False)
                else:
                    add(mp, explicit=False)
        else:
            raise ConfigError(f"{raw}: no such file or folder")
    return [found[k] for k in sorted(found)]


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode (CMYK, 16-bit, palette, alpha, grey, float) to (H, W, 3) uint8 RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        grey = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on mid-grey so transparent areas carry no spurious edges.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_image(path: str | os.PathLike, *, max_pixels: int = 120_000_000) -> np.ndarray:
    """Decode an image file into an (H, W, 3) uint8 RGB array, EXIF orientation applied.

    Animated files give their first frame. Raises ImageReadError naming the file for
    anything that is not a complete, decodable image of at most `max_pixels` pixels.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise ImageReadError(f"{path}: image has no pixels ({width}x{height})")
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"{path}: {width}x{height} px is over the {max_pixels:,}-pixel limit "
                        "(possible decompression bomb)"
                    )
                img.seek(0)
                img.load()
                try:
                    img = ImageOps.exif_transpose(img)
                except Exception:  # a malformed orientation tag must not lose the pixels
                    pass
                arr = _to_uint8_rgb(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: refused, possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file facecheck can read") from None
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image") from None
    except PermissionError:
        raise ImageReadError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ImageReadError(f"{path}: cannot decode image ({reason})") from None
    if arr.ndim != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageReadError(f"{path}: decoded to an empty image")
    return arr
