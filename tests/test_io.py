"""find_images (paths, folders, globs, extensions, symlinks) and load_image (modes, EXIF, broken files)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import _png_header, make_broken_files, write_image
from PIL import Image

from facecheck.errors import ConfigError, ImageReadError
from facecheck.scan import io as fio
from facecheck.scan.io import find_images, load_image


def _touch_images(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_image(folder / n, fmt="PNG") for n in names]


# --- find_images ------------------------------------------------------------------------------


def test_find_images_sorts_and_deduplicates(tmp_path):
    c, a, b = _touch_images(tmp_path, ["c.png", "a.png", "b.png"])
    found = find_images([c, a, tmp_path, b, str(a), f"{tmp_path}/./a.png"])
    assert found == [a, b, c]


def test_find_images_counts_a_file_once_whether_named_relative_or_absolute(tmp_path, monkeypatch):
    (a,) = _touch_images(tmp_path, ["a.png"])
    monkeypatch.chdir(tmp_path)
    assert len(find_images(["a.png", str(a), "./a.png"])) == 1


def test_find_images_filters_folders_by_extension_case_insensitively(tmp_path):
    upper, jpeg, png = _touch_images(tmp_path, ["a.JPG", "b.jpeg", "c.png"])
    (tmp_path / "notes.txt").write_text("not an image")
    assert find_images([tmp_path]) == [upper, jpeg, png]  # default: image extensions only
    assert find_images([tmp_path], extensions=["jpg"]) == [upper]
    assert find_images([tmp_path], extensions=[".PNG", "Jpeg"]) == [jpeg, png]


def test_find_images_keeps_explicit_files_whatever_their_extension(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    (png,) = _touch_images(tmp_path, ["c.png"])
    assert find_images([notes, png], extensions=["jpg"]) == [png, notes]


def test_find_images_recurses_only_with_recursive(tmp_path):
    (top,) = _touch_images(tmp_path, ["top.png"])
    (deep,) = _touch_images(tmp_path / "sub" / "deeper", ["deep.png"])
    assert find_images([tmp_path]) == [top]
    assert find_images([tmp_path], recursive=True) == [deep, top]


def test_find_images_expands_globs(tmp_path):
    a, b = _touch_images(tmp_path, ["a.png", "b.png"])
    (tmp_path / "c.jpg").write_bytes(b"")
    (deep,) = _touch_images(tmp_path / "sub", ["d.png"])
    assert find_images([str(tmp_path / "*.png")]) == [a, b]
    assert find_images([str(tmp_path / "**" / "*.png")], recursive=True) == [a, b, deep]
    # A glob's matches are not explicit names: they are filtered by extension (c.jpg goes),
    # and a folder it matches is scanned like a folder argument.
    assert find_images([str(tmp_path / "*")], extensions=["png"]) == [a, b, deep]


@pytest.mark.parametrize("name", ["missing.jpg", "nope/*.jpg"])
def test_find_images_refuses_a_path_that_matches_nothing(tmp_path, name):
    with pytest.raises(ConfigError, match="missing|nope"):
        find_images([tmp_path / name])


def _in_thread(fn, timeout=60):
    """Run fn in a daemon thread; fail (rather than hang the suite) if it never returns."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "find_images did not return: it is walking a symlink loop"
    return out["value"]


def test_find_images_does_not_follow_symlink_loops(tmp_path):
    (top,) = _touch_images(tmp_path, ["top.png"])
    (deep,) = _touch_images(tmp_path / "sub", ["deep.png"])
    # Two links back up give 2**depth paths to anything following them (glob's `**` does).
    os.symlink("..", tmp_path / "sub" / "up")
    os.symlink("..", tmp_path / "sub" / "up2")
    os.symlink("self.png", tmp_path / "self.png")  # a link to itself
    expected = [tmp_path / "self.png", deep, top]  # the looping link is kept, to be reported
    assert _in_thread(lambda: find_images([tmp_path], recursive=True)) == expected
    assert _in_thread(lambda: find_images([str(tmp_path / "**" / "*.png")], recursive=True)) == expected


# --- load_image: modes ------------------------------------------------------------------------


def _gradient16(h=8, w=64) -> np.ndarray:
    return np.tile(np.linspace(0, 65535, w).astype(np.uint16), (h, 1))


def test_load_image_scales_16_bit_png_to_the_full_range(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(_gradient16()).save(path)
    assert Image.open(path).mode == "I;16"
    arr = load_image(path)
    assert arr.shape == (8, 64, 3) and arr.dtype == np.uint8
    assert arr.min() == 0 and arr.max() == 255  # not clipped to white
    assert np.all(np.diff(arr[0, :, 0].astype(int)) >= 0)  # the gradient survives
    assert 120 <= arr[0, 32, 0] <= 135


def test_load_image_random_16_bit_png_is_not_white(tmp_path):
    arr = load_image(write_image(tmp_path / "r16.png", size=(40, 30), mode="I;16"))
    assert arr.shape == (30, 40, 3)
    assert 90 < arr.mean() < 165


def test_load_image_converts_cmyk_jpeg(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    arr = load_image(path)
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8
    assert arr[..., 0].mean() > 150 and arr[..., 1].mean() < 80  # still red


def test_load_image_composites_transparency_on_grey(tmp_path):
    rgba = tmp_path / "rgba.png"
    pixels = np.zeros((10, 12, 4), np.uint8)
    pixels[:, :6] = (255, 0, 0, 255)  # opaque red
    pixels[:, 6:] = (0, 0, 255, 0)  # fully transparent blue
    Image.fromarray(pixels, "RGBA").save(rgba)
    arr = load_image(rgba)
    assert arr.shape == (10, 12, 3)
    assert tuple(arr[0, 0]) == (255, 0, 0)
    assert tuple(arr[0, 11]) == (128, 128, 128)

    palette = tmp_path / "palette.png"
    img = Image.new("P", (12, 10), 0)
    img.putpalette([0, 255, 0] + [255, 255, 255] * 255)
    img.paste(1, (6, 0, 12, 10))
    img.save(palette, transparency=0)
    assert Image.open(palette).mode == "P" and "transparency" in Image.open(palette).info
    arr = load_image(palette)
    assert arr.shape == (10, 12, 3)
    assert tuple(arr[0, 0]) == (128, 128, 128) and tuple(arr[0, 11]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["L", "1", "LA", "RGB", "P"])
def test_load_image_gives_rgb_uint8_for_every_mode(tmp_path, mode):
    path = write_image(tmp_path / f"img_{mode}.png", size=(20, 14), mode=mode)
    arr = load_image(path)
    assert arr.shape == (14, 20, 3) and arr.dtype == np.uint8
    if mode in ("L", "1"):
        assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2])


def test_load_image_takes_the_first_frame_of_an_animation(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (20, 10), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    arr = load_image(path)
    assert arr.shape == (10, 20, 3)
    assert tuple(arr[5, 10]) == (255, 0, 0)


@pytest.mark.parametrize("orientation, stored_as", [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_load_image_applies_exif_orientation(tmp_path, orientation, stored_as):
    upright = np.zeros((30, 50, 3), np.uint8)
    upright[:10, :10] = (255, 255, 255)  # white square top-left when upright
    path = tmp_path / f"rot{orientation}.png"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(upright).transpose(stored_as).save(path, exif=exif)
    assert Image.open(path).size == (30, 50)  # stored sideways
    arr = load_image(path)
    assert arr.shape == (30, 50, 3)
    assert np.array_equal(arr, upright)


# --- load_image: refusals ---------------------------------------------------------------------


def test_load_image_reports_every_broken_file_with_its_path(tmp_path):
    broken = make_broken_files(tmp_path)
    assert {p.name for p in broken} == {"zero.jpg", "notes.png", "truncated.jpg", "bomb.png"}
    for path in broken:
        with pytest.raises(ImageReadError) as info:
            load_image(path)
        assert str(path) in str(info.value)


def test_load_image_refuses_a_decompression_bomb_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(50_000, 50_000))
    with pytest.raises(ImageReadError, match="decompression bomb") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_load_image_enforces_max_pixels(tmp_path):
    path = write_image(tmp_path / "small.png", size=(40, 30))
    assert load_image(path, max_pixels=1200).shape == (30, 40, 3)
    with pytest.raises(ImageReadError, match="pixel limit") as info:
        load_image(path, max_pixels=1199)
    assert str(path) in str(info.value)


def test_load_image_refuses_a_folder_and_a_missing_file(tmp_path):
    folder = tmp_path / "photo.jpg"
    folder.mkdir()
    for path in (folder, tmp_path / "missing.jpg"):
        with pytest.raises(ImageReadError) as info:
            load_image(path)
        assert str(path) in str(info.value)


def test_load_image_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(path, exif=exif)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    load_image(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# --- AVIF and HEIC ----------------------------------------------------------------------------------


def _heic(path: Path) -> Path:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (200, 40, 10))).save(path, format="HEIF")
    return path


def _without_plugin(monkeypatch, name: str) -> None:
    monkeypatch.delitem(Image.OPEN, name, raising=False)
    monkeypatch.setattr(Image, "ID", [i for i in Image.ID if i != name])


def test_find_images_takes_avif_and_heic_from_folders(tmp_path):
    for name in ("a.avif", "b.heic", "c.HEIF", "d.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_images([tmp_path])] == ["a.avif", "b.heic", "c.HEIF"]


def test_load_image_decodes_avif(tmp_path):
    if not fio.features.check("avif"):
        pytest.skip("this Pillow has no AVIF decoder")
    path = tmp_path / "a.avif"
    Image.new("RGB", (64, 48), (200, 40, 10)).save(path, "AVIF", quality=95)
    arr = load_image(path)
    assert arr.shape == (48, 64, 3) and abs(int(arr[24, 32, 0]) - 200) < 12


def test_load_image_decodes_heic(tmp_path):
    arr = load_image(_heic(tmp_path / "a.heic"))
    assert arr.shape == (48, 64, 3) and abs(int(arr[24, 32, 0]) - 200) < 12


def test_heic_without_a_decoder_names_the_missing_decoder(tmp_path, monkeypatch):
    path = _heic(tmp_path / "a.heic")
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails, as when it is not installed
    _without_plugin(monkeypatch, "HEIF")
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    assert str(info.value) == f"{path}: HEIC/HEIF image, but no HEIF decoder is installed ({fio.HEIF_REMEDY})"


def test_avif_without_a_decoder_names_the_missing_decoder(tmp_path, monkeypatch):
    path = tmp_path / "a.avif"
    path.write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64))
    monkeypatch.setattr(fio.features, "check", lambda name: False)
    _without_plugin(monkeypatch, "AVIF")
    with pytest.raises(ImageReadError, match=r"AVIF image, but this Pillow has no AVIF decoder") as info:
        load_image(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("head, kind", [(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "AVIF"),
                                        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "HEIC"),
                                        (b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00mp41", None),
                                        (b"\xff\xd8\xff\xe0", None), (b"", None)])
def test_bmff_kind(head, kind):
    assert fio.bmff_kind(head) == kind
