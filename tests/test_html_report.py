"""`scan --report DIR`: the page's structure (default run) and its rendering in headless Chromium (slow)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image
from PIL import Image
from test_cli import invoke, parse_csv


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str, **match) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k, "").split() and v in a.get(k, "").split()
                                                             for k, v in match.items())]


@pytest.fixture
def scanned(tmp_path, astronaut_path, tiny_model_dir):
    """Four files (two faces' photos, one faceless, one broken) scanned with --report; (csv rows, report dir)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(astronaut_path, photos / "a_astronaut.jpg")
    Image.open(astronaut_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "b_mirrored.png")
    write_image(photos / "c_blank.png", size=(120, 90))
    (photos / "d_broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    out = tmp_path / "report"
    result = invoke("scan", photos, "--model", tiny_model_dir, "--csv", "-q", "--report", out)
    assert result.exit_code == 1, result.stderr  # the broken file
    return parse_csv(result.stdout), out


def test_report_page_structure(scanned):
    rows, out = scanned
    assert sorted(p.name for p in out.iterdir()) == ["faces", "index.html", "thumbnails"]
    text = (out / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    tags = {t for t, _ in page.tags}
    assert "script" not in tags and "iframe" not in tags and "link" not in tags  # no script, nothing fetched
    assert "http://" not in text and "https://" not in text
    # One section per file, in scan order, with its name.
    sections = page.all("section", **{"class": "file"})
    assert len(sections) == 4
    for i, name in enumerate(["a_astronaut.jpg", "b_mirrored.png", "c_blank.png", "d_broken.jpg"], 1):
        assert f"{i}. " in text and name in text
    # A thumbnail per readable file, a crop per face, every image a file beside the page.
    thumbs, crops = page.all("img", **{"class": "thumb"}), [a for t, a in page.tags if t == "img" and "thumb" not in a.get("class", "")]
    faces = [r for r in rows if r["face_index"]]
    assert len(thumbs) == 3 and len(crops) == len(faces) == 2
    for attrs in thumbs + crops:
        assert not attrs["src"].startswith(("/", "file:", "data:")) and (out / attrs["src"]).is_file()
        assert attrs.get("loading") == "lazy"
    with Image.open(out / thumbs[0]["src"]) as im:
        assert max(im.size) <= 360
    # Every face: its verdict, its p_real, its marker on the real faces' histogram.
    for r in faces:
        assert f"p_real {100 * float(r['p_real']):.1f}%" in text or f"p_real {100 * float(r['p_real']):.2f}%" in text
    assert len([a for t, a in page.tags if t == "use"]) == 2 and "realhist" in text
    # The summary counts what the CSV says.
    for verdict in ("real", "uncertain", "ai-generated", "no_face", "error"):
        count = sum(r["verdict"] == verdict for r in rows)
        assert f'<span class="v v-{verdict}">{verdict}</span> {count}</span>' in text
    assert "<td>files</td><td>4</td>" in text and "<td>faces</td><td>2</td>" in text
    assert "metadata: stripped" in text


def test_report_refuses_a_folder_in_use(tmp_path, astronaut_path, tiny_model_dir):
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke("scan", astronaut_path, "--model", tiny_model_dir, "--report", out)
    assert result.exit_code == 2 and "not an empty folder" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary folder left


def test_report_escapes_file_names(tmp_path, astronaut_path, tiny_model_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(astronaut_path, photos / "<img src=x onerror=alert(1)>.jpg")
    result = invoke("scan", photos, "--model", tiny_model_dir, "-q", "--csv", "--report", tmp_path / "r")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;.jpg" in text


@pytest.mark.slow
def test_report_renders_in_headless_chromium(scanned, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt install chromium)")
    _, out = scanned
    png = tmp_path / "page.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", "--window-size=1100,900", (out / "index.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[:2] == (900, 1100)
    # Drawn: not a blank page; the thumbnails and the verdict colours are there.
    assert image.std() > 20
    green = (image[..., 1] > 140) & (image[..., 0] < 80) & (image[..., 2] < 100)
    assert green.sum() > 50 or ((image[..., 0] > 180) & (image[..., 1] > 120) & (image[..., 2] < 40)).sum() > 50


def test_an_interrupted_report_leaves_nothing(tmp_path, astronaut_path, tiny_model):
    from facecheck.api import scan_image
    from facecheck.model.verdict import VerdictRule
    from facecheck.output.html_report import HtmlReport

    result = scan_image(astronaut_path, tiny_model)
    page = HtmlReport(tmp_path / "report", tiny_model, VerdictRule.for_model(tiny_model))
    with pytest.raises(KeyboardInterrupt), page:
        page.write(result)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []  # no report, no temporary folder
    with page:  # a completed one appears whole
        page.write(result)
        page.close()
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["faces", "index.html", "thumbnails"]
    assert len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("clash", ["--csv", "--jsonl"])
def test_report_folder_must_not_be_an_output_file(tmp_path, astronaut_path, tiny_model_dir, clash):
    result = invoke("scan", astronaut_path, "--model", tiny_model_dir, "--report", tmp_path / "r", clash, tmp_path / "r")
    assert result.exit_code == 2 and "also given as an output file" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_a_symlink(tmp_path, astronaut_path, tiny_model_dir):
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    result = invoke("scan", astronaut_path, "--model", tiny_model_dir, "--report", tmp_path / "link")
    assert result.exit_code == 2 and "symbolic link" in result.stderr
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_file_gone_before_its_thumbnail_keeps_its_row(tmp_path, astronaut_path, tiny_model):
    from facecheck.api import scan_image
    from facecheck.model.verdict import VerdictRule
    from facecheck.output.html_report import HtmlReport

    photo = Path(shutil.copy(astronaut_path, tmp_path / "a.jpg"))
    result = scan_image(photo, tiny_model)
    photo.write_bytes(b"\xff\xd8\xff now broken")  # changed between the scan and the page
    page = HtmlReport(tmp_path / "report", tiny_model, VerdictRule.for_model(tiny_model))
    with page:
        page.write(result)
        page.close()
    text = (tmp_path / "report" / "index.html").read_text()
    assert "a.jpg" in text and "<img class=\"thumb\"" not in text and list((tmp_path / "report" / "thumbnails").iterdir()) == []


def test_report_says_where_it_is_draws_a_score_axis_and_hides_the_local_model_path(tmp_path, astronaut_path, tiny_model_dir):
    out = tmp_path / "report"
    result = invoke("scan", astronaut_path, "--model", tiny_model_dir, "--csv", "-q", "--report", out)
    assert result.exit_code == 0, result.stderr
    assert f"report written to {out / 'index.html'}" in result.stderr
    text = (out / "index.html").read_text(encoding="utf-8")
    assert str(tiny_model_dir) not in text and f"<td>{tiny_model_dir.name}, sha256 " in text
    symbol = text[text.index('<symbol id="realhist"'): text.index("</symbol>")]
    labels = re.findall(r">(-?\d+\.\d|[\d,]+ faces)</text>", symbol)
    assert len(labels) == 4 and labels[-1].endswith(" faces")  # lowest score, threshold, highest score, the tallest bar
    lo, threshold, hi = (float(v) for v in labels[:3])
    assert lo <= threshold <= hi
