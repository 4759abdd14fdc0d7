"""Write results as stable rows: a rich table, CSV or JSON; files are replaced atomically."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

from ..config import IMAGE_EXTENSIONS
from ..errors import ConfigError
from .results import ScanResult

COLUMNS = (
    "source_file",
    "face_index",
    "top",
    "right",
    "bottom",
    "left",
    "loglik",
    "threshold",
    "margin",
    "p_real",
    "verdict",
    "detector_confidence",
    "error",
    "metadata",
    "p_real_spread",
)
# JSON rows carry the metadata evidence too (a nested object; CSV and the table get only the summary word),
# each witness's own log-likelihood ({name: loglik}; null for no_face and error rows), and with --stability
# each perturbation's p_real ({"jpeg75": p, "resize0.5": p}; else null).
JSON_KEYS = COLUMNS + ("metadata_evidence", "witnesses", "stability")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What a crafted file name must not send to a terminal: C0/C1 controls (escape sequences that move the
# cursor, retitle the window or fake an extra line) and bidirectional overrides (that reverse the text shown).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def rows(result: ScanResult) -> list[dict]:
    """Flatten a ScanResult into rows keyed by COLUMNS: one per face, or one no_face/error row."""
    empty = {c: None for c in COLUMNS}
    empty["metadata"] = (result.metadata.summary or None) if result.metadata else None
    if not result.faces:
        return [{**empty, "source_file": result.source_file, "threshold": result.threshold,
                 "verdict": result.status, "error": result.error}]
    out = []
    for face in result.faces:
        top, right, bottom, left = face.box
        out.append({
            **empty,
            "source_file": result.source_file,
            "face_index": face.face_index,
            "top": top, "right": right, "bottom": bottom, "left": left,
            "loglik": face.loglik,
            "threshold": face.threshold,
            "margin": face.margin,
            "p_real": face.p_real,
            "verdict": face.verdict,
            "detector_confidence": face.detector_confidence,
            "p_real_spread": face.p_real_spread,
        })
    return out


def printable(text: str) -> str:
    """`text` safe to show on a terminal: control and bidi-override characters written as \\xNN / \\uNNNN."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    text = str(value)
    # A cell a spreadsheet would run as a formula (a crafted file name) is quoted with a leading '.
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvWriter:
    """Stream rows as CSV with a header line."""

    def __init__(self, stream: IO[str]):
        self._writer = csv.writer(stream, lineterminator="\n")
        # Python 3.11's writer leaves a field with a bare \r unquoted when the line ends in \n, and
        # readers then split the row there (a file name can hold a \r): such rows are fully quoted.
        self._quoted = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
        self._stream = stream
        self._writer.writerow(COLUMNS)

    def write(self, result: ScanResult) -> None:
        """Append the rows of one result."""
        for row in rows(result):
            cells = [_csv_cell(row[c]) for c in COLUMNS]
            (self._quoted if any("\r" in c for c in cells) else self._writer).writerow(cells)
        self._stream.flush()

    def close(self) -> None:
        """Nothing to finish: every row is already written."""


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_rows(result: ScanResult) -> list[dict]:
    """The rows of one result keyed by JSON_KEYS: COLUMNS plus the nested evidence, witnesses and stability."""
    evidence = result.metadata.evidence if result.metadata else None
    extras = [({k: _json_value(v) for k, v in f.witnesses.items()}, f.stability) for f in result.faces] or [(None, None)]
    return [{**{k: _json_value(v) for k, v in row.items()}, "metadata_evidence": evidence, "witnesses": w, "stability": st}
            for row, (w, st) in zip(rows(result), extras, strict=True)]


class JsonWriter:
    """Collect rows and write one JSON array of objects (keys = JSON_KEYS) at the end."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._rows: list[dict] = []

    def write(self, result: ScanResult) -> None:
        """Add the rows of one result."""
        self._rows.extend(json_rows(result))

    def close(self) -> None:
        """Write the array."""
        json.dump(self._rows, self._stream, indent=2, ensure_ascii=False)
        self._stream.write("\n")
        self._stream.flush()


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Open a temporary file beside `path`, renamed over it only if the block completes."""
    path = Path(path)
    # Not mkstemp: its 0600 mode would become the output's; os.open applies the umask.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    try:
        # Inside the try: a signal landing just after the file is created still removes it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        # surrogateescape: a file name that is not valid UTF-8 is written back as its own bytes.
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as stream:
            yield stream
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


TABLE_COLUMNS = (("file", "left"), ("face", "right"), ("box (t,r,b,l)", "left"), ("loglik", "right"),
                 ("margin", "right"), ("p_real", "right"), ("verdict", "left"), ("metadata", "left"), ("note", "left"))
_DROP_FIRST = ("box (t,r,b,l)", "loglik", "margin", "face", "metadata")  # on a narrow terminal, in this order


def render_table(results: Iterable[ScanResult], console) -> None:
    """Print a rich table of the results to `console` (a terminal).

    The file, p_real, the verdict and an error's reason are never cut: on a narrow terminal the box,
    loglik, margin, face and metadata columns go first (in that order), and a long file name or reason wraps.
    """
    from rich.table import Table
    from rich.text import Text

    style = {"real": "green", "uncertain": "yellow", "ai-generated": "bold red", "no_face": "dim", "error": "red"}
    # The metadata column is a separate witness: its own colours, never the verdict's.
    meta_style = {"declared-ai": "magenta", "generator-metadata": "magenta", "camera": "cyan", "stripped": "dim"}
    cells = []
    for result in results:
        for row in rows(result):
            verdict = row["verdict"]
            cells.append({
                "file": Text(printable(row["source_file"])),
                "face": "" if row["face_index"] is None else str(row["face_index"]),
                "box (t,r,b,l)": "" if row["top"] is None else f"{row['top']},{row['right']},{row['bottom']},{row['left']}",
                "loglik": "" if row["loglik"] is None else f"{row['loglik']:.1f}",
                "margin": "" if row["margin"] is None else f"{row['margin']:+.1f}",
                "p_real": percent(row["p_real"]),
                "verdict": Text(verdict, style=style.get(verdict, "")),
                "metadata": Text(row["metadata"] or "", style=meta_style.get(row["metadata"], "")),
                "note": Text(printable(_reason(row["error"], row["source_file"]))),
            })
    shown = [c for c in TABLE_COLUMNS if c[0] != "note" or any(cell["note"].plain for cell in cells)]

    def build(columns) -> Table:
        table = Table(show_lines=False)
        for name, justify in columns:
            wraps = name in ("file", "note")
            table.add_column(name, justify=justify, no_wrap=not wraps, overflow="fold" if wraps else "ellipsis")
        for cell in cells:
            table.add_row(*(cell[name] for name, _ in columns))
        return table

    def needed(columns) -> int:
        """Width the columns need: their widest cell, but a file name or reason may wrap down to 24."""
        total = 1
        for name, _ in columns:
            widest = max([len(name)] + [len(cell[name]) if isinstance(cell[name], str) else cell[name].cell_len
                                        for cell in cells])
            total += (min(widest, 24) if name in ("file", "note") else widest) + 3
        return total

    for name in _DROP_FIRST:
        if needed(shown) <= console.width:
            break
        shown = [c for c in shown if c[0] != name]
    table = build(shown)
    console.print(table)


def _reason(error: str | None, source_file: str) -> str:
    """An error message without the file name it starts with (the table's file column has it)."""
    if not error:
        return ""
    prefix = f"{source_file}: "
    return error[len(prefix):] if error.startswith(prefix) else error


def percent(share: float | None) -> str:
    """A share (p_real, a rate) for people: a percentage with enough digits to tell 0.3% from 0%; "" for None."""
    if share is None:
        return ""
    return f"{100 * share:.1f}%" if share >= 0.01 or share == 0 else f"{100 * share:.2f}%"


def format_csv(results: Iterable[ScanResult]) -> str:
    """Return the CSV text of `results` (header included)."""
    buf = io.StringIO()
    writer = CsvWriter(buf)
    for r in results:
        writer.write(r)
    return buf.getvalue()


@contextmanager
def open_writers(csv_target: str | None, json_target: str | None, stdout: IO[str], *others) -> Iterator[list]:
    """Writers for the requested outputs ("-" is `stdout`), plus `others` (context-managed writers such as
    html_report.HtmlReport; None skipped); files appear only if the block completes."""
    with ExitStack() as stack:
        writers = [stack.enter_context(o) for o in others if o is not None]
        for cls, target in ((CsvWriter, csv_target), (JsonWriter, json_target)):
            if target == "-":
                writers.append(cls(stdout))
            elif target is not None:
                writers.append(cls(stack.enter_context(atomic_output(target))))
        yield writers
        for writer in writers:
            writer.close()


def check_output(target: str | None, inputs: list, flag: str) -> str | None:
    """Refuse output paths that would overwrite an input file or an image."""
    if target is None or target == "-":
        return target
    out = Path(target)
    if out.is_dir():
        raise ConfigError(f"{flag} {target}: is a folder; give a file name")
    # os.path.realpath, not Path.resolve(): resolve() raises on a symlink loop among the inputs.
    resolved = os.path.realpath(out)
    if any(resolved == os.path.realpath(p) for p in inputs):
        raise ConfigError(f"{flag} {target}: is one of the scanned files; facecheck never overwrites inputs")
    if out.suffix.lower() in IMAGE_EXTENSIONS:
        raise ConfigError(f"{flag} {target}: looks like an image; refusing to write results over it")
    if not out.parent.exists():
        raise ConfigError(f"{flag} {target}: folder {out.parent} does not exist")
    return target
