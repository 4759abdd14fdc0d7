"""A self-contained HTML report of a scan: per file a thumbnail with boxes, per face its crop, verdict,
p_real and place among real faces' scores, the metadata evidence; a summary on top.

No network and no script: index.html, with thumbnails and face crops as JPEG files beside it, so a page
of thousands of files stays light. Written into a temporary folder renamed to the target at the end.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..errors import ConfigError, FacecheckError
from ..model.bundle import Model
from ..model.verdict import AI_GENERATED, REAL, UNCERTAIN, VERDICTS, VerdictRule
from ..scan.io import load_image
from .report import percent, printable
from .results import ScanResult

THUMB_SIDE, CROP_SIDE, JPEG_QUALITY = 360, 128, 85
COLOURS = {REAL: (46, 160, 67), UNCERTAIN: (214, 150, 0), AI_GENERATED: (207, 34, 46)}
HIST_W, HIST_H, HIST_BINS, AXIS_H = 240, 48, 40, 13  # AXIS_H: the score axis under the bars

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 8px} .muted{color:#59636e}
table.summary td{padding:2px 12px 2px 0} .counts span{display:inline-block;margin-right:14px}
.file{border-top:1px solid #d1d9e0;padding:14px 0;display:flex;gap:18px;align-items:flex-start}
.file img.thumb{max-width:360px;max-height:360px;border:1px solid #d1d9e0}
.name{font-family:ui-monospace,monospace;word-break:break-all;margin-bottom:6px}
.face{display:flex;gap:12px;align-items:center;margin:6px 0}
.face img{width:96px;height:96px;border:3px solid #ccc}
.v{font-weight:600;padding:1px 6px;border-radius:4px;color:#fff}
.v-real{background:#2ea043} .v-uncertain{background:#d69600} .v-ai-generated{background:#cf222e}
.v-no_face{background:#8c959f} .v-error{background:#6e7781}
.b-real{border-color:#2ea043!important} .b-uncertain{border-color:#d69600!important} .b-ai-generated{border-color:#cf222e!important}
table.meta{font-size:12px;border-collapse:collapse} table.meta td{padding:1px 8px 1px 0;vertical-align:top}
svg.hist{display:block}
"""


class HtmlReport:
    """Collect scan results and write `folder`/index.html with thumbnails/ and faces/ beside it.

    Use as a context manager (an interrupted scan leaves no folder), `write` each result in scan order,
    then `close`; the folder appears when the block ends. Re-reads every image once to draw its thumbnail.
    """

    def __init__(self, folder: str | os.PathLike, model: Model, rule: VerdictRule, *, inputs: list = (),
                 outputs: tuple = ()):
        self.folder = Path(folder)
        if self.folder.is_symlink():
            raise ConfigError(f"--report {folder}: is a symbolic link; give a new folder")
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise ConfigError(f"--report {folder}: exists and is not an empty folder; give a new folder")
        if not self.folder.parent.is_dir():
            raise ConfigError(f"--report {folder}: folder {self.folder.parent} does not exist")
        resolved = os.path.realpath(self.folder)
        if any(os.path.realpath(p) == resolved for p in inputs):
            raise ConfigError(f"--report {folder}: is one of the scanned paths; facecheck never writes over inputs")
        if any(o not in (None, "-") and os.path.realpath(o) == resolved for o in outputs):
            raise ConfigError(f"--report {folder}: is also given as an output file; give the report its own folder")
        self.model, self.rule = model, rule
        # The real faces' score histogram (counts, edges): drawn once on the page, every face's marker placed on it.
        self._hist = None if rule.real_scores is None else rule.real_scores.histogram(HIST_BINS)
        self._parts: list[str] = []
        self._counts: Counter = Counter()
        self._files = self._faces = 0
        self._tmp: Path | None = None

    def __enter__(self) -> "HtmlReport":
        # Not mkdtemp: its 0700 mode would become the report's.
        self._tmp = self.folder.parent / f".{self.folder.name}.{secrets.token_hex(6)}.part"
        (self._tmp / "thumbnails").mkdir(parents=True)
        (self._tmp / "faces").mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self._tmp is not None and (self._tmp / "index.html").is_file():
            if self.folder.exists():
                self.folder.rmdir()  # empty, checked at the start
            os.replace(self._tmp, self.folder)
            self._tmp = None
        if self._tmp is not None and self._tmp.exists():  # not published: interrupted or failed
            shutil.rmtree(self._tmp, ignore_errors=True)

    def write(self, result: ScanResult) -> None:
        """Add one file: its thumbnail with boxes, each face's crop and verdict."""
        if self._tmp is None:
            raise RuntimeError("HtmlReport.write outside its `with` block")
        self._files += 1
        n = self._files
        try:
            thumb, crops = self._images(result, n)
        except Exception:  # the file changed or vanished since it was scanned: its row stays, without pictures
            thumb, crops = None, [None] * len(result.faces)
        faces = []
        for face, crop in zip(result.faces, crops):
            self._faces += 1
            self._counts[face.verdict] += 1
            faces.append(self._face_html(face, crop))
        if not result.faces:
            self._counts[result.status] += 1
            verdict = result.status
            faces.append(f'<div class="face"><span class="v v-{verdict}">{verdict}</span>'
                         f'{" " + _esc(result.error) if result.error else ""}</div>')
        img = f'<img class="thumb" loading="lazy" src="{thumb}" alt="file {n}">' if thumb else ""
        self._parts.append(
            f'<section class="file" id="f{n}">{img}<div><div class="name">{n}. {_esc(result.source_file)}</div>'
            f'{"".join(faces)}{_metadata_html(result)}</div></section>'
        )

    def close(self) -> None:
        """Write index.html; the folder is moved into place when the `with` block ends without error (after
        the other outputs of the scan are written)."""
        page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width">'
                f'<title>facecheck report</title><style>{_STYLE}</style></head><body>'
                f'{self._histogram_symbol()}{self._summary_html()}{"".join(self._parts)}</body></html>\n')
        (self._tmp / "index.html").write_text(page, encoding="utf-8", errors="surrogateescape")

    def _images(self, result: ScanResult, n: int) -> tuple[str | None, list[str | None]]:
        """Save the thumbnail (boxes drawn) and face crops; their relative paths (None when unreadable)."""
        if result.error:
            return None, []
        try:
            image = load_image(result.source_file)
        except FacecheckError:
            return None, [None] * len(result.faces)
        crops = []
        for face in result.faces:
            top, right, bottom, left = face.box
            crop = _fit(image[top:bottom, left:right], CROP_SIDE)
            name = f"faces/{n:06d}_{face.face_index}.jpg"
            _save(self._tmp / name, crop)
            crops.append(name)
        scale = min(1.0, THUMB_SIDE / max(image.shape[:2]))
        thumb = _fit(image, THUMB_SIDE)
        for face in result.faces:
            top, right, bottom, left = (round(v * scale) for v in face.box)
            colour = COLOURS.get(face.verdict, (128, 128, 128))
            cv2.rectangle(thumb, (left, top), (right - 1, bottom - 1), colour, 2)
            cv2.putText(thumb, str(face.face_index), (left + 2, max(top - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)
        name = f"thumbnails/{n:06d}.jpg"
        _save(self._tmp / name, thumb)
        return name, crops

    def _face_html(self, face, crop: str | None) -> str:
        img = f'<img loading="lazy" class="b-{face.verdict}" src="{crop}" alt="face {face.face_index}">' if crop else ""
        rarity = "" if face.p_real is None else (
            f"p_real {percent(face.p_real)}: {percent(face.p_real)} of real faces score as low or lower")
        stability = ""
        if face.stability:
            stability = "<br>stability: " + ", ".join(f"{k} {percent(v)}" for k, v in face.stability.items())
        return (f'<div class="face">{img}<div><span class="v v-{face.verdict}">{face.verdict}</span> '
                f'face {face.face_index} <span class="muted">score {face.loglik:.2f}, margin {face.margin:+.2f}</span>'
                f'<br>{rarity}{stability}{self._marker_svg(face.loglik)}</div></div>')

    def _histogram_symbol(self) -> str:
        """The real faces' score histogram, drawn once and referenced by every face's marker."""
        if self._hist is None:
            return ""
        counts = self._hist[0]
        top = counts.max() or 1
        bar = HIST_W / HIST_BINS
        bars = "".join(f'<rect x="{i * bar:.1f}" y="{HIST_H - h:.1f}" width="{bar - 0.5:.1f}" height="{h:.1f}" fill="#9aa5b1"/>'
                       for i, h in enumerate(counts / top * (HIST_H - 4)))
        x = self._x(self.rule.threshold)
        line = f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{HIST_H}" stroke="#cf222e" stroke-dasharray="3 2"/>'
        lo, hi = self._hist[1][0], self._hist[1][-1]
        axis = (f'<line x1="0" x2="{HIST_W}" y1="{HIST_H}" y2="{HIST_H}" stroke="#59636e"/>'
                f'<text x="0" y="{HIST_H + AXIS_H - 2}" font-size="10" fill="#59636e">{lo:.1f}</text>'
                f'<text x="{x:.1f}" y="{HIST_H + AXIS_H - 2}" font-size="10" fill="#cf222e" text-anchor="middle">'
                f'{self.rule.threshold:.1f}</text>'
                f'<text x="{HIST_W}" y="{HIST_H + AXIS_H - 2}" font-size="10" fill="#59636e" text-anchor="end">{hi:.1f}</text>'
                f'<text x="2" y="9" font-size="9" fill="#59636e">{int(top):,} faces</text>')
        return (f'<svg width="0" height="0" style="position:absolute"><symbol id="realhist" '
                f'viewBox="0 0 {HIST_W} {HIST_H + AXIS_H}">{bars}{line}{axis}</symbol></svg>')

    def _x(self, score: float) -> float:
        lo, hi = self._hist[1][0], self._hist[1][-1]
        return float(np.clip((score - lo) / (hi - lo) * HIST_W, 1, HIST_W - 1))

    def _marker_svg(self, score: float) -> str:
        if self._hist is None:
            return ""
        x = self._x(score)
        return (f'<svg class="hist" width="{HIST_W}" height="{HIST_H + AXIS_H}" role="img" aria-label="score among real faces">'
                f'<title>this face (black, score {score:.2f}) among held-out real faces (grey; the tallest bar counts the '
                f'faces written at its top); the fused score below, the threshold in red</title>'
                f'<use href="#realhist"/><line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{HIST_H}" stroke="#000" '
                f'stroke-width="2"/></svg>')

    def _summary_html(self) -> str:
        rule, manifest = self.rule, self.model.manifest
        witnesses = ", ".join(e.get("name", "?") for e in manifest.get("witnesses", [])) or "appearance"
        counts = "".join(f'<span><span class="v v-{v}">{v}</span> {self._counts.get(v, 0)}</span>' for v in VERDICTS)
        band = (f"uncertain from p_real {percent(rule.false_alarm)} to {percent(rule.uncertain)}"
                if rule.real_scores is not None and rule.uncertain > rule.false_alarm else "no uncertain band")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return (
            f"<h1>facecheck report</h1><p class='muted'>facecheck {__version__}, {now}. A face's p_real is the share "
            f"of the model's held-out real faces that score as low or lower; the verdict never uses metadata.</p>"
            f"<table class='summary'><tr><td>files</td><td>{self._files}</td></tr>"
            f"<tr><td>faces</td><td>{self._faces}</td></tr>"
            f"<tr><td>verdicts</td><td class='counts'>{counts}</td></tr>"
            f"<tr><td>model</td><td>{_esc(_model_name(self.model))} (witnesses: {_esc(witnesses)}; "
            f"bundle of facecheck {_esc(str(manifest.get('facecheck_version', '?')))})</td></tr>"
            f"<tr><td>threshold</td><td>{rule.threshold:.3f}: ai-generated below, a false-alarm rate of "
            f"{percent(rule.false_alarm)} on held-out real faces; {band}</td></tr>"
            f"{self._legend()}</table>"
        )

    def _legend(self) -> str:
        if self.rule.real_scores is None:
            return ""
        return (f"<tr><td>histograms</td><td>the scores of the {len(self.rule.real_scores):,} held-out real faces "
                f"(grey; more photo-like to the right), the threshold (red dashes), the face (black)</td></tr>")


def _model_name(model: Model) -> str:
    """The bundle as a page shared with others may show it: the shipped model or the folder's name (never
    the local path), and the first digits of the bundle's sha256."""
    from ..model.bundle import bundle_sha256, is_shipped

    return f"{'the shipped model' if is_shipped(model.path) else Path(model.path).name}, sha256 {bundle_sha256(model)[:12]}"


def _metadata_html(result: ScanResult) -> str:
    meta = result.metadata
    if meta is None:
        return ""
    rows = "".join(f"<tr><td>{_esc(str(k))}</td><td>{_esc(json.dumps(v, ensure_ascii=False, default=str)[:300])}</td></tr>"
                   for k, v in (_present(meta.evidence) or {}).items())
    c2pa_facts = (meta.evidence.get("provenance") or {}).get("c2pa")
    return (f"<div class='muted'>metadata: {_esc(meta.text or 'unreadable')} (separate from the verdict)</div>"
            f"{_c2pa_html(c2pa_facts)}{f'<table class=meta>{rows}</table>' if rows else ''}")


def _c2pa_html(facts: dict | None) -> str:
    """The C2PA manifest in words: state and trust, signer, claim generator, source types, ingredients."""
    if not facts:
        return ""
    signer = facts.get("signer") or {}
    lines = [("C2PA", facts.get("status")),
             ("signed by", ", ".join(filter(None, (signer.get("issuer"), signer.get("time"))))),
             ("claim generator", facts.get("claim_generator")),
             ("digital source types", ", ".join(facts.get("digital_source_types") or [])),
             ("remote manifest (not fetched)", facts.get("remote_url")),
             ("validation codes", " ".join(facts.get("codes") or []))]
    for ingredient in facts.get("ingredients") or []:
        failures = " ".join(ingredient.get("failures") or [])
        lines.append((f"ingredient ({ingredient.get('relationship') or '?'})",
                      f"{ingredient.get('title') or '?'}: {ingredient.get('state')}" + (f" ({failures})" if failures else "")))
    rows = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(str(v))}</td></tr>" for k, v in lines if v)
    return f"<table class=meta>{rows}</table>"


def _present(value):
    """The evidence without what is absent (null, false, empty), so the page shows what was found."""
    if isinstance(value, dict):
        kept = {k: _present(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, False, [], {}, "")} or None
    if isinstance(value, list):
        return [_present(v) for v in value] or None
    return value


def _esc(text: str) -> str:
    return html.escape(printable(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")))


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """A copy whose longest side is at most `side` (never enlarged)."""
    h, w = image.shape[:2]
    k = min(1.0, side / max(h, w, 1))
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA) if k < 1 else image.copy()


def _save(path: Path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any non-empty uint8 image
        raise ValueError(f"could not encode {path.name}")
    path.write_bytes(buf.tobytes())
