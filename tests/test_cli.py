"""The CLI through Typer's CliRunner: exit codes, stdout (data only) and stderr (errors) apart."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import _png_header, make_broken_files, write_image
from typer.main import get_command
from typer.testing import CliRunner

from facecheck import __version__
from facecheck.cli import app
from facecheck.model import bundle as weights
from facecheck.output.report import COLUMNS, JSON_KEYS

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    # Exit codes must come from typer.Exit / usage errors, never from an uncaught exception.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def parse_csv(text: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text))
    assert tuple(next(reader)) == COLUMNS
    rows = list(reader)
    assert all(len(r) == len(COLUMNS) for r in rows)
    return [dict(zip(COLUMNS, r)) for r in rows]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def photo(tmp_path, astronaut_path) -> Path:
    return Path(shutil.copy(astronaut_path, tmp_path / "astronaut.jpg"))


@pytest.fixture(autouse=True)
def no_env_model(monkeypatch):
    monkeypatch.delenv(weights.ENV_VAR, raising=False)


# --- output formats ---------------------------------------------------------------------------------


def test_csv_to_stdout_is_data_only(photo, tiny_model_dir, tiny_model):
    result = invoke("scan", photo, "--model", tiny_model_dir, "--csv")
    assert result.exit_code == 0, result.stderr
    rows = parse_csv(result.stdout)  # every stdout line is CSV: header + rows
    assert result.stdout.count("\n") == len(rows) + 1
    assert {r["source_file"] for r in rows} == {str(photo)}
    assert rows[0]["verdict"] == "real" and rows[0]["face_index"] == "0"
    assert float(rows[0]["threshold"]) == tiny_model.threshold
    assert float(rows[0]["margin"]) == float(rows[0]["loglik"]) - tiny_model.threshold
    assert "1 file(s) scanned, 0 failed" in result.stderr
    assert "scanned" not in result.stdout


def test_csv_is_the_default_when_stdout_is_not_a_terminal(photo, tiny_model_dir):
    plain = invoke("scan", photo, "--model", tiny_model_dir, "-q")
    assert plain.exit_code == 0
    assert plain.stdout == invoke("scan", photo, "--model", tiny_model_dir, "-q", "--csv").stdout
    assert plain.stderr == ""  # -q: no summary either


def test_json_to_stdout_parses(photo, tiny_model_dir):
    result = invoke("scan", photo, "--model", tiny_model_dir, "--json", "-q")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data and all(tuple(d) == JSON_KEYS for d in data)
    assert data[0]["source_file"] == str(photo) and data[0]["error"] is None
    assert data[0]["metadata"] == "stripped" and data[0]["metadata_evidence"]["camera"]["make"] is None
    assert isinstance(data[0]["loglik"], float) and isinstance(data[0]["top"], int)
    assert list(data[0]["witnesses"]) == ["appearance"] and isinstance(data[0]["witnesses"]["appearance"], float)


def test_json_witnesses_of_a_fused_bundle(photo, fused_model_dir):
    data = json.loads(invoke("scan", photo, "--model", fused_model_dir, "--json", "-q").stdout)
    assert data and all(list(d["witnesses"]) == ["appearance", "appearance_1"] for d in data)
    csv_rows = parse_csv(invoke("scan", photo, "--model", fused_model_dir, "--csv", "-q").stdout)
    assert [float(r["loglik"]) for r in csv_rows] == [d["loglik"] for d in data]  # CSV: the same fixed columns


def test_csv_to_a_file_leaves_stdout_empty(photo, tiny_model_dir, tmp_path):
    out = tmp_path / "results.csv"
    result = invoke("scan", photo, "--model", tiny_model_dir, "--csv", out)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert {r["source_file"] for r in parse_csv(out.read_text())} == {str(photo)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut.jpg", "results.csv"]  # no .part


def test_json_file_and_csv_stdout_together(photo, tiny_model_dir, tmp_path):
    out = tmp_path / "results.json"
    result = invoke("scan", photo, "--model", tiny_model_dir, "--json", out, "--csv", "-", "-q")
    assert result.exit_code == 0
    csv_rows = parse_csv(result.stdout)
    json_rows = json.loads(out.read_text())
    assert [r["loglik"] for r in csv_rows] == [repr(r["loglik"]) for r in json_rows]


def test_metadata_column_beside_an_unchanged_verdict(tmp_path, astronaut_path, tiny_model_dir):
    from PIL import Image, PngImagePlugin

    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:'
           'DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
           "</rdf:RDF></x:xmpmeta>")
    folder = tmp_path / "in"
    folder.mkdir()
    image = Image.open(astronaut_path)
    image.save(folder / "a_plain.png")
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    image.save(folder / "b_declared.png", pnginfo=info)
    (folder / "c_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dtEXtSoftware\x00GIMP")  # no pixels
    result = invoke("scan", folder, "--model", tiny_model_dir, "--csv", "-q")
    assert result.exit_code == 1
    by_file: dict[str, list] = {}
    for row in parse_csv(result.stdout):
        by_file.setdefault(Path(row["source_file"]).name, []).append(row)
    assert {n: {r["metadata"] for r in rs} for n, rs in by_file.items()} == {
        "a_plain.png": {"stripped"}, "b_declared.png": {"declared-ai"}, "c_broken.png": {"edited"}}
    assert by_file["c_broken.png"][0]["verdict"] == "error"  # an error row still says what its tags say
    strip = [{k: v for k, v in r.items() if k not in ("source_file", "metadata")} for r in by_file["a_plain.png"]]
    assert strip == [{k: v for k, v in r.items() if k not in ("source_file", "metadata")}
                     for r in by_file["b_declared.png"]]  # same loglik and verdict, whatever the tags say
    data = json.loads(invoke("scan", folder / "b_declared.png", "--model", tiny_model_dir, "--json", "-q").stdout)
    evidence = data[0]["metadata_evidence"]
    assert evidence["basis"] == "XMP DigitalSourceType trainedAlgorithmicMedia"
    assert evidence["provenance"]["digital_source_type"] == ["trainedAlgorithmicMedia"]


def test_formula_file_name_is_escaped_in_csv(tmp_path, astronaut_path, tiny_model_dir, monkeypatch):
    shutil.copy(astronaut_path, tmp_path / "=cmd.jpg")
    monkeypatch.chdir(tmp_path)
    result = invoke("scan", "=cmd.jpg", "--model", tiny_model_dir, "--csv", "-q")
    assert result.exit_code == 0
    assert {r["source_file"] for r in parse_csv(result.stdout)} == {"'=cmd.jpg"}
    assert json.loads(invoke("scan", "=cmd.jpg", "--model", tiny_model_dir, "--json", "-q").stdout)[0][
        "source_file"] == "=cmd.jpg"  # JSON is not a spreadsheet: the name stays as it is


def test_non_utf8_file_name_is_written_to_a_csv_file_as_its_bytes(tmp_path, tiny_model_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png")), size=(64, 48))  # a Latin-1 name
    out = tmp_path / "out.csv"
    result = invoke("scan", folder, "--model", tiny_model_dir, "--csv", out, "-q")
    assert result.exit_code == 0
    assert b"/caf\xe9.png,,,,,,," in out.read_bytes()


def test_non_utf8_file_name_on_stdout(tmp_path, tiny_model_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(Path(os.fsdecode(bytes(folder) + b"/caf\xe9.png")), size=(64, 48))
    result = invoke("scan", folder, "--model", tiny_model_dir, "--csv", "-q")
    assert result.exit_code == 0
    assert len(parse_csv(result.stdout)) == 1


def test_error_line_keeps_the_file_name_verbatim(tmp_path, tiny_model_dir):
    broken = tmp_path / "a:smile:.jpg"
    broken.write_text("not an image")
    result = invoke("scan", broken, "--model", tiny_model_dir, "-q")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {broken}: ")


def test_ext_filters_folders(tmp_path, tiny_model_dir):
    write_image(tmp_path / "a.JPG", size=(64, 48), fmt="JPEG")
    write_image(tmp_path / "b.png", size=(64, 48))
    result = invoke("scan", tmp_path, "--model", tiny_model_dir, "--ext", "jpg", "--csv", "-q")
    assert result.exit_code == 0
    assert [Path(r["source_file"]).name for r in parse_csv(result.stdout)] == ["a.JPG"]


# --- errors and exit codes -----------------------------------------------------------------------------


def test_unreadable_file_is_one_stderr_line_and_exit_1(tmp_path, tiny_model_dir):
    folder = tmp_path / "in"
    broken = make_broken_files(folder)
    write_image(folder / "ok.png", size=(64, 48))
    result = invoke("scan", folder, "--model", tiny_model_dir, "--csv", "-q")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == len(broken) and lines == error_lines(result.stderr)
    for path in broken:
        assert sum(line.startswith(f"error: {path}: ") for line in lines) == 1
    rows = parse_csv(result.stdout)
    assert sorted(r["verdict"] for r in rows) == ["error"] * 4 + ["no_face"]


def test_batch_of_200_files_with_20_broken(tmp_path, astronaut_path, tiny_model_dir):
    folder = tmp_path / "batch"
    folder.mkdir()
    good_jpg = write_image(tmp_path / "seed.jpg", size=(64, 64), fmt="JPEG").read_bytes()
    for i in range(5):  # 20 broken: zero-byte, truncated, text, bomb
        (folder / f"zero_{i}.jpg").write_bytes(b"")
        (folder / f"trunc_{i}.jpg").write_bytes(good_jpg[: len(good_jpg) // 2])
        (folder / f"text_{i}.png").write_text("not an image\n")
        (folder / f"bomb_{i}.png").write_bytes(_png_header(50_000, 50_000))
    for i in range(3):
        shutil.copy(astronaut_path, folder / f"face_{i}.jpg")
    formats = [("png", "PNG", "RGB"), ("jpg", "JPEG", "RGB"), ("bmp", "BMP", "RGB"), ("gif", "GIF", "P"),
               ("tiff", "TIFF", "RGB"), ("webp", "WEBP", "RGB"), ("png", "PNG", "L")]
    for i in range(177):
        ext, fmt, mode = formats[i % len(formats)]
        write_image(folder / f"img_{i:03d}.{ext}", size=(40 + i % 17, 32 + i % 11), mode=mode, fmt=fmt)
    assert len(list(folder.iterdir())) == 200

    result = invoke("scan", folder, "--model", tiny_model_dir, "-q", "--csv")
    assert result.exit_code == 1
    rows = parse_csv(result.stdout)
    by_file: dict[str, set] = {}
    for r in rows:
        by_file.setdefault(r["source_file"], set()).add(r["verdict"])
    assert len(by_file) == 200
    errors = [f for f, v in by_file.items() if v == {"error"}]
    assert len(errors) == 20
    assert sorted(Path(f).name.split("_")[0] for f in errors) == ["bomb"] * 5 + ["text"] * 5 + ["trunc"] * 5 + [
        "zero"] * 5
    results = {f: v for f, v in by_file.items() if "error" not in v}
    assert len(results) == 180
    assert all(v == {"no_face"} or v <= {"real", "ai-generated"} for v in results.values())
    assert sorted(Path(f).name for f, v in results.items() if v != {"no_face"}) == [f"face_{i}.jpg" for i in range(3)]
    assert len(error_lines(result.stderr)) == 20 == len(result.stderr.splitlines())
    assert [r["source_file"] for r in rows] == sorted(r["source_file"] for r in rows)


def test_all_good_folder_exits_0(tmp_path, tiny_model_dir):
    for i in range(3):
        write_image(tmp_path / f"img_{i}.png", size=(64, 48))
    result = invoke("scan", tmp_path, "--model", tiny_model_dir, "-q")
    assert result.exit_code == 0 and result.stderr == ""
    assert [r["verdict"] for r in parse_csv(result.stdout)] == ["no_face"] * 3


def test_missing_path_exits_2(tmp_path, tiny_model_dir):
    result = invoke("scan", tmp_path / "missing.jpg", "--model", tiny_model_dir)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {tmp_path / 'missing.jpg'}: no such file or folder\n"


def test_no_shipped_model_and_no_model_option_exits_2(photo, tmp_path, monkeypatch):
    empty = tmp_path / "no_weights"
    empty.mkdir()
    monkeypatch.setattr(weights, "shipped_dir", lambda: empty)
    result = invoke("scan", photo)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: no trained model ships") and "--model" in result.stderr


def test_damaged_model_exits_2(photo, tiny_model_dir, tmp_path):
    bundle = Path(shutil.copytree(tiny_model_dir, tmp_path / "bundle"))
    (bundle / "appearance.npz").write_bytes(b"damaged")
    result = invoke("scan", photo, "--model", bundle)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "sha256" in result.stderr


def _snapshot(path: Path):
    return path.read_bytes(), path.stat().st_mtime_ns


def test_csv_over_a_scanned_image_is_refused(photo, tiny_model_dir):
    before = _snapshot(photo)
    result = invoke("scan", photo, "--model", tiny_model_dir, "--csv", photo)
    assert result.exit_code == 2 and result.stdout == ""
    assert "never overwrites inputs" in result.stderr
    assert _snapshot(photo) == before


@pytest.mark.parametrize("flag", ["--csv", "--json"])
def test_output_with_an_image_extension_is_refused(photo, tiny_model_dir, tmp_path, flag):
    other = write_image(tmp_path / "other.jpg", fmt="JPEG")
    before = _snapshot(other)
    for target in (other, tmp_path / "new.png"):
        result = invoke("scan", photo, "--model", tiny_model_dir, flag, target)
        assert result.exit_code == 2 and result.stdout == ""
        assert "looks like an image" in result.stderr
    assert _snapshot(other) == before
    assert not (tmp_path / "new.png").exists()


@pytest.mark.parametrize("args", [["--csv", "-", "--json", "-"], ["--csv", "--json"], ["--json", "--csv"]])
def test_csv_and_json_both_on_stdout_exits_2(photo, tiny_model_dir, args):
    result = invoke("scan", photo, "--model", tiny_model_dir, *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert "cannot both write to stdout" in result.stderr


def test_output_in_a_missing_folder_exits_2(photo, tiny_model_dir, tmp_path):
    result = invoke("scan", photo, "--model", tiny_model_dir, "--csv", tmp_path / "nowhere" / "out.csv")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_cuda_without_gpu_exits_2(photo, tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without a CUDA GPU")
    result = invoke("scan", photo, "--model", tiny_model_dir, "--device", "cuda")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: device 'cuda'") and len(result.stderr.splitlines()) == 1


def test_bad_option_exits_2(photo):
    result = invoke("scan", photo, "--no-such-option")
    assert result.exit_code == 2 and result.stdout == ""


# --- info, help, version -----------------------------------------------------------------------------------


def test_info_prints_the_threshold(tiny_model_dir, tiny_model):
    result = invoke("info", "--model", tiny_model_dir, "--verbose")
    assert result.exit_code == 0
    assert f"threshold:     {tiny_model.threshold!r}" in result.stdout
    assert str(tiny_model_dir) in result.stdout and result.stderr == ""


def test_info_json_prints_the_manifest(tiny_model_dir, tiny_model):
    result = invoke("info", "--model", tiny_model_dir, "--json")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((tiny_model_dir / "manifest.json").read_text())
    assert manifest["threshold"] == tiny_model.threshold and manifest["witnesses"][0]["name"] == "appearance"


def test_info_lists_each_witness_and_the_fusion(fused_model_dir):
    result = invoke("info", "--model", fused_model_dir, "--verbose")
    assert result.exit_code == 0 and result.stderr == ""
    witnesses = [line for line in result.stdout.splitlines() if line.startswith("witness:")]
    assert len(witnesses) == 2
    assert witnesses[0].startswith("witness:       appearance (appearance): 64 px crop, box x1.3; FaceNet")
    assert witnesses[1].startswith("witness:       appearance_1 (appearance): ")
    assert all("'n_components': 2" in line for line in witnesses)  # each witness's own mixture
    (fusion,) = [line for line in result.stdout.splitlines() if line.startswith("fusion:")]
    assert "(loglik - mean) / std" in fusion and "appearance mean" in fusion and "appearance_1 mean" in fusion


def test_info_of_the_shipped_model_says_how_it_fuses():
    result = invoke("info", "--verbose")
    assert result.exit_code == 0
    (fusion,) = [line for line in result.stdout.splitlines() if line.startswith("fusion:")]
    assert fusion.startswith("fusion:        Stouffer") and fusion.endswith("two-sided (too typical is unusual too): cooc, npr")
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("witness:")] == ["appearance", "spectrum", "cooc", "npr", "surprise"]


def test_info_of_a_legacy_bundle(legacy_model_dir):
    result = invoke("info", "--model", legacy_model_dir, "--verbose")
    assert result.exit_code == 0 and result.stderr == ""
    assert "(facecheck-bundle/1)" in result.stdout and "witness:       appearance (appearance): 64 px crop" in result.stdout
    assert "fusion:        none: the score is the one witness's log-likelihood" in result.stdout


def test_info_for_analysts_says_what_the_model_is_and_what_p_real_means():
    result = invoke("info")
    assert result.exit_code == 0 and result.stderr == ""
    out = result.stdout
    lines = out.splitlines()
    assert lines[0].startswith("model:       the shipped model (written by facecheck ")
    assert [line.split()[0] for line in lines if line.startswith("  ")][:5] == ["appearance", "spectrum", "cooc", "npr", "surprise"]
    assert "fused by:    Stouffer's rule" in out
    assert "9,635 real faces" in out and "no AI-generated image" in out  # the shipped bundle's training record
    assert "ai-generated when p_real is at most 1%" in out and "uncertain up to 20%" in out
    assert "it is not the chance that the face is real" in out and "limits:" in out
    assert "{" not in out and "0.01000" not in out  # no Python dicts, no long decimals


def test_info_after_a_small_calibration_says_the_rate_is_not_resolved(tmp_path, tiny_model_dir):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_model_dir, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["training"]["calibration"] = {"held_out_faces": 78, "false_alarm_measured": 0.0, "held_out_needed": 1000}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("info", "--model", bundle)
    assert result.exit_code == 0
    assert "threshold set on 78 held-out real faces, 0.0% of them under it; too few for a 5.0% rate, which needs 1000" in result.stdout


def test_info_without_a_model_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "shipped_dir", lambda: tmp_path)
    result = invoke("info")
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith("error: ")


COMMANDS = sorted(get_command(app).commands)


@pytest.mark.parametrize(
    "command",
    COMMANDS,
)
def test_every_command_documents_its_exit_codes(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 " in text and "2 usage error" in text and ("1 at least one file" in text) == (command == "scan")
    assert "every file was scanned" not in text or command == "scan"  # each command its own codes


def test_top_level_help_documents_exit_codes_and_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0" in text and "2 usage error" in text
    assert {"scan", "info"} <= set(COMMANDS)
    assert all(c in result.stdout for c in COMMANDS)


@pytest.mark.parametrize("command", ["scan", "train"])
def test_help_usage_reads_as_plain_words(command):
    text = invoke(command, "--help").stdout
    usage = text.splitlines()[0]
    assert usage.endswith((" scan [OPTIONS] PATH...", " train [OPTIONS] PHOTOS..."))  # the runner names the program "root"
    assert "<list[" not in text


def test_top_level_help_summaries_are_not_cut():
    text = invoke("--help").stdout
    assert "..." not in text.partition("Commands:")[2]


def test_scan_help_lists_the_columns():
    text = " ".join(invoke("scan", "--help").stdout.split())
    assert ", ".join(COLUMNS) in text


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"facecheck {__version__}\n" and result.stderr == ""


def test_info_prints_the_model_card_summary(tmp_path, tiny_model_dir):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_model_dir, bundle)
    (bundle / "MODEL_CARD.md").write_text("# Card\n\nintro\n\n## Summary\n\nTrained on X.\nMean AUC 0.5.\n\n## Details\n\nmore\n")
    result = invoke("info", "--model", bundle, "--verbose")
    assert result.exit_code == 0
    assert "Trained on X.\nMean AUC 0.5." in result.stdout and "more" not in result.stdout


def test_sigterm_during_a_scan_exits_130_and_leaves_no_file(tmp_path, tiny_model_dir, astronaut_path):
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(400):  # enough work that the scan is still running when the signal arrives
        shutil.copy(astronaut_path, folder / f"{i:03d}.jpg")
    out = tmp_path / "out.csv"
    script = "import sys; from facecheck.cli import run; sys.argv = ['facecheck', *sys.argv[1:]]; run()"
    proc = subprocess.Popen([sys.executable, "-c", script, "scan", str(folder), "--csv", str(out),
                             "--model", str(tiny_model_dir), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.csv.*.part")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the scan ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr.decode()
    assert "interrupted: no output file was written" in stderr.decode()
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


# --- p_real, verdict bands, stability ---------------------------------------------------------------


@pytest.mark.parametrize("false_alarm", [None, "0.05", "0.3"])
def test_false_alarm_at_scan_time_moves_the_threshold(photo, tiny_model_dir, tiny_model, false_alarm):
    args = ["--false-alarm", false_alarm] if false_alarm else []
    result = invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q", *args)
    assert result.exit_code == 0, result.stderr
    (row,) = parse_csv(result.stdout)
    real = tiny_model.real_scores
    expected = real.threshold(float(false_alarm or tiny_model.false_alarm))
    assert float(row["threshold"]) == expected
    loglik, p_real = float(row["loglik"]), float(row["p_real"])
    assert p_real == float(real.p_real(loglik))
    rule = {"ai-generated": loglik < expected, "uncertain": expected <= loglik < real.threshold(0.3 if false_alarm == "0.3" else 0.2)}
    assert row["verdict"] == next((v for v, hit in rule.items() if hit), "real")


def test_uncertain_band_is_chosen_at_scan_time(photo, tiny_model_dir, tiny_model):
    loglik = float(parse_csv(invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q").stdout)[0]["loglik"])
    p_real = float(tiny_model.real_scores.p_real(loglik))
    wide = parse_csv(invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q", "--false-alarm", "0.01",
                            "--uncertain", "0.9").stdout)[0]
    narrow = parse_csv(invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q", "--false-alarm", "0.01",
                              "--uncertain", "0.01").stdout)[0]
    assert wide["verdict"] == ("uncertain" if 0.01 < p_real <= 0.9 else "real" if p_real > 0.9 else "ai-generated")
    assert narrow["verdict"] in ("real", "ai-generated")  # no band at all


@pytest.mark.parametrize("args, message", [
    (["--false-alarm", "0.2", "--uncertain", "0.1"], "must be at least false_alarm"),
    (["--false-alarm", "0"], "--false-alarm"),
])
def test_bad_bands_are_usage_errors(photo, tiny_model_dir, args, message):
    result = invoke("scan", photo, "--model", tiny_model_dir, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_false_alarm_needs_a_bundle_with_real_scores(photo, legacy_model_dir):
    plain = invoke("scan", photo, "--model", legacy_model_dir, "--csv", "-q")
    assert plain.exit_code == 0, plain.stderr
    (row,) = parse_csv(plain.stdout)
    assert row["p_real"] == "" and row["verdict"] in ("real", "ai-generated")  # no rarity, no band
    result = invoke("scan", photo, "--model", legacy_model_dir, "--false-alarm", "0.01")
    assert result.exit_code == 2
    assert error_lines(result.stderr) and "stores no held-out real scores" in result.stderr


def test_stability_reports_the_spread_of_p_real(photo, tiny_model_dir, tiny_model):
    result = invoke("scan", photo, "--model", tiny_model_dir, "--json", "-q", "--stability")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert set(row["stability"]) == {"jpeg75", "resize0.5"}
    values = [row["p_real"], *row["stability"].values()]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert row["p_real_spread"] == max(values) - min(values)
    plain = json.loads(invoke("scan", photo, "--model", tiny_model_dir, "--json", "-q").stdout)[0]
    assert plain["stability"] is None and plain["p_real_spread"] is None
    assert plain["loglik"] == row["loglik"] and plain["p_real"] == row["p_real"]  # the face itself scores the same
    flips = any(v <= tiny_model.false_alarm for v in values) and not all(v <= tiny_model.false_alarm for v in values)
    if flips:
        assert row["verdict"] == "uncertain"


def test_no_verify_keeps_the_mission_patch(photo, tiny_model_dir):
    verified = parse_csv(invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q").stdout)
    unverified = parse_csv(invoke("scan", photo, "--model", tiny_model_dir, "--csv", "-q", "--no-verify").stdout)
    assert len(verified) == 1 and len(unverified) == 2
    assert verified[0]["top"] == unverified[0]["top"] and verified[0]["left"] == unverified[0]["left"]
    # Batched with the patch, the CNN's sums run in another order: equal to float rounding.
    assert float(verified[0]["loglik"]) == pytest.approx(float(unverified[0]["loglik"]), abs=1e-3)


def test_uncertain_needs_a_bundle_with_real_scores(photo, legacy_model_dir):
    result = invoke("scan", photo, "--model", legacy_model_dir, "--uncertain", "0.5")
    assert result.exit_code == 2 and "no uncertain band" in result.stderr


def test_a_folder_whose_images_sit_in_sub_folders_says_how_many_and_r(tmp_path, astronaut_path, tiny_model_dir):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(astronaut_path, tmp_path / "a" / "b" / "x.jpg")
    shutil.copy(astronaut_path, tmp_path / "a" / "y.jpg")
    result = invoke("scan", str(tmp_path), "--model", str(tiny_model_dir), "--csv")
    assert result.exit_code == 0
    assert f"warning: {tmp_path}: its sub-folders hold 2 image(s); -r scans them" in result.stderr
    assert "0 file(s) scanned" in result.stderr


def test_an_empty_folder_warns(tmp_path, tiny_model_dir):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    result = invoke("scan", str(tmp_path / "empty"), "-r", "--model", str(tiny_model_dir), "--csv")
    assert result.exit_code == 0
    assert f"warning: {tmp_path / 'empty'}: no image found" in result.stderr


def test_error_rows_have_no_metadata_word_when_nothing_was_read(tmp_path, tiny_model_dir):
    (tmp_path / "fake.jpg").write_text("not a jpeg")
    result = invoke("scan", str(tmp_path / "fake.jpg"), "--model", str(tiny_model_dir), "--csv")
    assert result.exit_code == 1
    [row] = parse_csv(result.stdout)
    assert row["verdict"] == "error" and row["metadata"] == ""


@pytest.mark.parametrize("errno_, reason", [(28, "No space left on device"), (30, "Read-only file system")])
def test_a_full_disk_is_a_one_line_error_with_its_own_code_and_keeps_the_rows(
        tmp_path, astronaut_path, tiny_model_dir, monkeypatch, errno_, reason):
    from facecheck.output import report

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(20):  # more than one batch: worker processes, whose abandoned tasks joblib warns about
        shutil.copy(astronaut_path, photos / f"{chr(97 + i)}.jpg")
    written = []
    real_write = report.CsvWriter.write

    def write(self, result):
        if written:
            raise OSError(errno_, reason)
        written.append(result)
        real_write(self, result)

    monkeypatch.setattr(report.CsvWriter, "write", write)
    rows = tmp_path / "rows.jsonl"
    out = tmp_path / "out.csv"
    result = invoke("scan", photos, "--model", tiny_model_dir, "--csv", out, "--jsonl", rows, "-q")
    assert result.exit_code == 3
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: cannot write {out} or {rows}: {reason}; {rows} keeps every completed row")
    assert "internal error" not in result.stderr and "Warning" not in result.stderr
    assert not out.exists()  # no half-written CSV
    kept = [json.loads(x) for x in rows.read_text().splitlines()[1:]]
    assert [Path(r["source_file"]).name for r in kept] == ["a.jpg"]  # the completed row is kept, for --resume
