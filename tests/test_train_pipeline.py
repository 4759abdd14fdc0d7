"""Training end to end on tiny data: pre-scan cache, splits, GMM calibration, resume after a kill, scan."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facecheck.errors import ConfigError, TrainingDataError
from facecheck.model.witnesses import CropSpec, PatchSpec
from facecheck.model.witnesses.appearance import AppearanceWitness
from facecheck.train import data as train_data
from facecheck.train.calibrate import fit_fused, fit_scorer
from facecheck.train.data import SPLITS, _cut, build_pool, split_of, witness_inputs
from facecheck.train.loop import CHECKPOINT, TrainSettings
from facecheck.train.pipeline import TrainingRun, train

TINY = dict(input_size=32, widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), embed_dim=16, batch_size=16, warmup_steps=2)


def _exif(iso: int, fnum: float, exposure: tuple[int, int], focal: float) -> Image.Exif:
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x8827] = iso
    ifd[0x829D] = IFDRational(int(fnum * 10), 10)
    ifd[0x829A] = IFDRational(*exposure)
    ifd[0x920A] = IFDRational(int(focal * 10), 10)
    return exif


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, astronaut_path) -> Path:
    """70 camera-like photos: shifted, rescaled, re-lit copies of the astronaut portrait with EXIF."""
    folder = tmp_path_factory.mktemp("photos")
    base = Image.open(astronaut_path).convert("RGB")
    rng = np.random.default_rng(0)
    for i in range(70):
        size = int(rng.integers(300, 420))
        left, top = int(rng.integers(0, 60)), int(rng.integers(0, 40))
        img = base.crop((left, top, left + 440, top + 440)).resize((size, size))
        arr = np.clip(np.asarray(img, np.float32) * rng.uniform(0.7, 1.2) + rng.normal(0, 3, (size, size, 3)), 0, 255)
        exif = _exif(int(rng.choice([50, 100, 200, 400, 800, 1600])), float(rng.choice([1.8, 2.8, 4.0, 5.6])),
                     (1, int(rng.choice([30, 60, 125, 250, 1000]))), float(rng.choice([4.2, 24.0, 50.0])))
        Image.fromarray(arr.astype(np.uint8)).save(folder / f"img_{i:03d}.jpg", quality=90, exif=exif)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_split_is_stable_and_proportional():
    names = [f"/photos/img_{i}.jpg" for i in range(4000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    for name, share in SPLITS:
        assert abs(splits.count(name) / len(names) - share) < 0.03


def test_prescan_cache_is_reused(photo_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache.json"
    pool, counts = build_pool([photo_folder], size=32, cache_file=cache, n_jobs=1)
    assert counts["files"] == 71 and counts["unreadable"] == 1 and counts["with_exif"] == 70
    assert counts["per_tag"] == {"iso": 70, "fnumber": 70, "exposure_s": 70, "focal_mm": 70}
    assert pool.crops.shape[1:] == (32, 32, 3) and counts["faces"] >= 70
    face_marks = pool.landmarks[pool.is_face]
    assert np.isfinite(face_marks).all() and face_marks.min() > -4 and face_marks.max() < 36  # landmarks in crop pixels
    assert np.allclose(np.exp(pool.exif[:, 2]).min(), 0.001, rtol=1e-4)  # 1/1000 s, not 1000 s

    calls = []
    monkeypatch.setattr(train_data, "_scan_file", lambda *a: calls.append(a) or {})
    again, counts2 = build_pool([photo_folder], size=32, cache_file=cache, n_jobs=1)
    assert calls == [] and counts2 == counts and np.array_equal(again.crops, pool.crops)


def test_fit_scorer_calibrates_on_held_out_faces():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 12)).astype(np.float32)
    split = np.array([split_of(f"f{i}") for i in range(600)])
    scorer, report = fit_scorer(X, split, false_alarm=0.1, n_dims=8, components=(1, 2), covariances=("full",))
    calib = X[split == "calib"]
    assert abs(np.mean(scorer.score_samples(calib) < scorer.threshold_) - 0.1) < 0.03
    assert {c["n_components"] for c in report["candidates"]} == {1, 2}
    assert report["chosen"]["n_components"] in (1, 2) and report["faces"]["calib"] == len(calib)
    with pytest.raises(TrainingDataError, match="found"):
        fit_scorer(X[:20], split[:20])


def test_fit_fused_fits_each_mixture_fuses_on_select_and_calibrates_on_calib():
    rng = np.random.default_rng(0)
    X = {"appearance": rng.normal(size=(600, 12)).astype(np.float32),
         "trace": (rng.normal(size=(600, 6)) * 5 + 2).astype(np.float32)}
    split = np.array([split_of(f"f{i}") for i in range(600)])
    scorer, report = fit_fused(X, split, false_alarm=0.1, seed=0, n_dims=8, components=(1, 2), covariances=("full",))
    assert scorer.names == ["appearance", "trace"]
    for name in X:
        assert {c["n_components"] for c in report["witnesses"][name]["candidates"]} == {1, 2}
        select_ll = scorer.scorers[name].score_samples(X[name][split == "select"])
        assert report["fusion"][name] == {"mean": pytest.approx(select_ll.mean()), "std": pytest.approx(select_ll.std())}
    calib = {name: x[split == "calib"] for name, x in X.items()}
    n_calib = len(calib["appearance"])
    assert report["faces"]["calib"] == n_calib and report["threshold"] == scorer.threshold_
    assert abs(np.mean(scorer.score_samples(calib) < scorer.threshold_) - 0.1) <= 1 / n_calib
    with pytest.raises(TrainingDataError, match="found"):
        fit_fused({"appearance": X["appearance"][:20]}, split[:20])


def test_train_refuses_existing_bundle_and_too_few_photos(photo_folder, tmp_path):
    existing = tmp_path / "m"
    existing.mkdir()
    with pytest.raises(ConfigError, match="--force"):
        train([photo_folder], existing)
    few = tmp_path / "few"
    few.mkdir()
    for p in sorted(photo_folder.glob("img_00*.jpg"))[:5]:
        (few / p.name).write_bytes(p.read_bytes())
    with pytest.raises(TrainingDataError, match="found 5 readable photo"):
        train([few], tmp_path / "out", cache_dir=tmp_path / "cache")


def _wide_witness(run: TrainingRun):
    """A witness builder: an untrained appearance witness on the whole box (scale 1.0, cut from the photos)."""
    from facecheck.model.witnesses.facenet import FaceNet, FeatureExtractor

    assert run.files("train") and all(p.is_file() for p in run.files("select"))
    assert len(run.faces) == run.faces.is_face.sum() > 0 and run.settings.input_size == TINY["input_size"]
    torch.manual_seed(1)
    run.record["wide"] = {"note": "untrained"}
    return AppearanceWitness(FeatureExtractor(FaceNet((8, 8, 8, 8), (1, 1, 1, 1), 8), input_size=24), name="wide", scale=1.0)


def test_train_end_to_end_then_scan(photo_folder, tmp_path, astronaut_path):
    from facecheck import scan_image
    from facecheck.model.bundle import load_model

    before = {p: p.read_bytes() for p in photo_folder.iterdir()}
    out = train([photo_folder], tmp_path / "model", settings=TrainSettings(epochs=2, **TINY),
                cache_dir=tmp_path / "cache", n_jobs=1, witness_builders=[AppearanceWitness.training_builder(), _wide_witness])
    model = load_model(out)
    manifest = model.manifest
    assert manifest["training"]["photos"]["files"] == 71 and manifest["training"]["photos"]["unreadable"] == 1
    assert manifest["false_alarm"] == 0.01 and np.isfinite(manifest["threshold"])  # the default rate
    # The calibration faces' fused scores are kept, and the threshold is their 1% point.
    assert manifest["real_scores"]["n"] == len(model.real_scores) >= 10
    assert model.real_scores.threshold(0.01) == manifest["threshold"]
    assert [(e["name"], e["config"]["spec"]["scale"]) for e in manifest["witnesses"]] == [("appearance", 1.3), ("wide", 1.0)]
    assert manifest["training"]["witness_training"] == {"wide": {"note": "untrained"}}
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2
    assert all(k in metrics["history"][-1] for k in ("val_rank_acc_iso", "val_manip_acc", "rank", "manip"))
    result = scan_image(astronaut_path, model)
    assert result.faces and np.isfinite(result.faces[0].loglik) and list(result.faces[0].witnesses) == ["appearance", "wide"]
    assert not (tmp_path / "model.work").exists()
    assert before == {p: p.read_bytes() for p in photo_folder.iterdir()}  # the user's photos are untouched

    # --gmm-only through the CLI: same extractor bytes, a newly fitted and calibrated mixture.
    from typer.testing import CliRunner

    from facecheck.cli import app

    refit = tmp_path / "refit"
    res = CliRunner().invoke(app, ["train", str(photo_folder), "--out", str(refit), "--gmm-only", "--init", str(out),
                                   "--false-alarm", "0.1"])
    assert res.exit_code == 0, res.output
    # Nothing is trained, so no training task is announced; too few held-out faces for 10% is said, and recorded.
    assert "manipulation task" not in res.stderr
    calibration = json.loads((refit / "manifest.json").read_text())["training"]["calibration"]
    assert calibration["held_out_needed"] == 100 and calibration["held_out_faces"] < 100
    assert (f"warning: only {calibration['held_out_faces']} held-out faces: a 10.0% false-alarm rate needs at least 100"
            in res.stderr)
    for name in ("appearance.weights.npz", "wide.weights.npz"):  # every witness kept as it was; mixtures, fusion and threshold refitted
        assert (refit / name).read_bytes() == (out / name).read_bytes()
    refitted = load_model(refit).manifest
    assert refitted["false_alarm"] == 0.1 and [e["name"] for e in refitted["witnesses"]] == ["appearance", "wide"]
    assert refitted["threshold"] > manifest["threshold"]  # 10% of held-out faces below it, not 1%
    res = CliRunner().invoke(app, ["train", str(photo_folder), "--out", str(refit), "--gmm-only", "--init", str(out)])
    assert res.exit_code == 2 and "--force" in res.stderr and res.stdout == ""


_SCRIPT = """
import sys
from facecheck.train.loop import TrainSettings
from facecheck.train.pipeline import train
train([sys.argv[1]], sys.argv[2], settings=TrainSettings(epochs=3, checkpoint_minutes=0, **{tiny}),
      resume=True, cache_dir=sys.argv[3], n_jobs=1)
"""


_ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def uninterrupted_model(photo_folder, tmp_path_factory) -> Path:
    """The bundle of a run of _SCRIPT that nothing interrupted: what every resumed run must reproduce."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run([sys.executable, "-c", _SCRIPT.format(tiny=repr(TINY)), str(photo_folder), str(folder / "a"),
                    str(folder / "cache")], check=True, env=_ENV, capture_output=True)
    return folder / "a"


def _wait_for_checkpoint(proc: subprocess.Popen, work: Path, step: int) -> None:
    """Return once the checkpoint in `work` is at `step` or later, with the training still running."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (work / CHECKPOINT).exists():
            try:
                if torch.load(work / CHECKPOINT, weights_only=True)["global_step"] >= step:
                    break
            except (RuntimeError, EOFError, OSError):  # replaced while being read
                pass
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"


def _assert_same_extractor(a: Path, b: Path) -> None:
    with np.load(a / "appearance.weights.npz") as sa, np.load(b / "appearance.weights.npz") as sb:
        assert sa.files == sb.files
        for k in sa.files:
            assert np.array_equal(sa[k], sb[k]), k


def test_resume_after_kill_gives_the_same_model(photo_folder, tmp_path, uninterrupted_model):
    script = _SCRIPT.format(tiny=repr(TINY))
    cache = str(tmp_path / "cache")
    proc = subprocess.Popen([sys.executable, "-c", script, str(photo_folder), str(tmp_path / "b"), cache], env=_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_checkpoint(proc, tmp_path / "b.work", 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b").exists()
    subprocess.run([sys.executable, "-c", script, str(photo_folder), str(tmp_path / "b"), cache], check=True, env=_ENV,
                   capture_output=True)
    _assert_same_extractor(uninterrupted_model, tmp_path / "b")


# `facecheck train` itself, with the tiny network of TINY (the CLI has no options for widths and blocks).
_CLI_SCRIPT = """
import sys
from functools import partial
import facecheck.train.settings as settings
settings.TrainSettings = partial(settings.TrainSettings, widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1), embed_dim=16,
                                     warmup_steps=2)
from facecheck.cli import run
sys.argv = ["facecheck", "train", *sys.argv[1:]]
run()
"""


def test_sigint_at_a_checkpoint_exits_130_and_resume_gives_the_same_model(photo_folder, tmp_path, uninterrupted_model):
    args = [sys.executable, "-c", _CLI_SCRIPT, str(photo_folder), "--out", str(tmp_path / "c"), "--epochs", "3",
            "--batch-size", str(TINY["batch_size"]), "--input-size", str(TINY["input_size"]),
            "--checkpoint-minutes", "0", "-j", "1", "--resume", "-q"]
    env = {**_ENV, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    # A shell's background job starts with SIGINT ignored, and Python keeps it ignored: restore the default.
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_checkpoint(proc, tmp_path / "c.work", 3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert stderr.decode().strip().splitlines()[-1] == (
        "interrupted: the last checkpoint is kept; rerun with --resume to continue")
    assert stdout == b"" and not (tmp_path / "c").exists() and (tmp_path / "c.work" / CHECKPOINT).is_file()
    done = subprocess.run([a for a in args if a != "-q"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert "resumed from" in done.stderr.decode()  # continued from the checkpoint, not started over
    assert not (tmp_path / "c.work").exists()
    _assert_same_extractor(uninterrupted_model, tmp_path / "c")


def test_hostile_files_among_the_photos_are_skipped_and_counted(photo_folder, tmp_path):
    from hostile import make_corpus, unlock

    from facecheck.model.bundle import load_model
    from facecheck.scan.io import load_image

    folder = tmp_path / "photos"
    folder.mkdir()
    for p in photo_folder.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    entries = make_corpus(folder / "hostile", 60, seed=1)
    try:
        inputs = [folder / "hostile" / e.name for e in entries if e.is_input]
        unreadable = 0
        for path in inputs:
            try:
                load_image(path)
            except Exception:
                unreadable += 1
        assert unreadable >= sum(e.expect == "error" for e in entries)
        out = train([folder], tmp_path / "model", settings=TrainSettings(epochs=1, **TINY),
                    cache_dir=tmp_path / "cache", n_jobs=2)
        counts = load_model(out).manifest["training"]["photos"]
        assert counts["files"] == 71 + len(inputs)
        assert counts["unreadable"] == 1 + unreadable  # broken.jpg and the hostile files that cannot be read
        assert counts["with_exif"] == 70 and counts["faces"] >= 70
    finally:
        unlock(folder / "hostile")


def test_a_learned_witness_without_the_appearance_one_checkpoints_in_the_work_folder(photo_folder, tmp_path):
    """The coder witness checkpoints in the run's work folder, which must exist even when no appearance
    network is trained (a regression: 0.8.2 failed here at its first checkpoint); the bundle scans with it."""
    from facecheck.model.bundle import load_model
    from facecheck.model.witnesses.coder import CoderWitness

    out = train([photo_folder], tmp_path / "model", settings=TrainSettings(epochs=0, **TINY), cache_dir=tmp_path / "cache",
                n_jobs=1, histories=1, witness_builders=[CoderWitness.training_builder(coder_steps=2)])
    model = load_model(out)
    assert [e["kind"] for e in model.manifest["witnesses"]] == ["coder"] and (out / "coder.weights.npz").exists()
    assert not (tmp_path / "model.work").exists()  # checkpoint removed with the folder


def test_ablation_settings(photo_folder, tmp_path):
    """`epochs=0` gives the untrained-extractor baseline; `tasks` must name known pretext tasks."""
    from dataclasses import replace

    with pytest.raises(ConfigError, match="--tasks"):
        train([photo_folder], tmp_path / "bad", settings=TrainSettings(tasks=("colour",), **TINY))
    out = train([photo_folder], tmp_path / "baseline", settings=replace(TrainSettings(**TINY), epochs=0, tasks=("exif",)),
                cache_dir=tmp_path / "cache", n_jobs=1)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["history"] == [] and metrics["counts"]["settings"]["tasks"] == ["exif"]


def test_pool_is_the_same_wherever_the_folder_lies_and_however_it_is_spelled(tmp_path, monkeypatch):
    # Faceless photos with EXIF give random scene crops: their seed must not depend on the folder's path.
    rng = np.random.default_rng(1)
    first = tmp_path / "a" / "photos"
    (first / "sub").mkdir(parents=True)
    for i in range(6):
        arr = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        Image.fromarray(arr).save(first / ("sub" if i % 2 else ".") / f"scene_{i}.jpg", quality=90,
                                  exif=_exif(100 * (i + 1), 2.8, (1, 125), 24.0))
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(first, moved)
    monkeypatch.chdir(tmp_path / "a")
    pools = [build_pool([folder], size=32, n_jobs=1)[0] for folder in (first, Path("photos"), moved)]
    assert (~pools[0].is_face).sum() == 12  # two scene crops per photo
    assert (pools[0].boxes[~pools[0].is_face] == -1).all()  # no face, no box
    for other in pools[1:]:
        assert np.array_equal(other.crops, pools[0].crops) and list(other.split) == list(pools[0].split)


def test_witness_inputs_cut_from_the_photos_at_the_pool_boxes(photo_folder, tmp_path):
    pool, _ = build_pool([photo_folder], size=32, cache_file=tmp_path / "cache.json", n_jobs=1)
    faces = pool.subset(pool.is_face)
    assert faces.boxes.shape == (len(faces), 4) and (faces.boxes >= 0).all()
    assert witness_inputs(faces, CropSpec(32, 1.3)) is faces.crops  # the pool's own crops
    # Cut again from the photos: the same pixels as the pool's crops (same decoding, same boxes).
    recut = _cut(faces.source[0], [tuple(faces.boxes[0])], CropSpec(32, 1.3))
    assert recut.shape == (1, 1, 32, 32, 3) and np.array_equal(recut[0, 0], faces.crops[0])
    patches = witness_inputs(faces.subset(np.arange(len(faces)) < 5), PatchSpec(16, 2), n_jobs=1)
    assert patches.shape == (5, 4, 16, 16, 3) and patches.dtype == np.uint8
    from dataclasses import replace

    with pytest.raises(ValueError, match="scene crops"):
        witness_inputs(replace(faces, is_face=np.zeros(len(faces), bool)), PatchSpec(16, 2))


def test_witness_inputs_with_histories_keep_the_originals_first(photo_folder, tmp_path):
    pool, _ = build_pool([photo_folder], size=32, cache_file=tmp_path / "cache.json", n_jobs=1)
    faces = pool.subset(pool.is_face)
    faces = faces.subset(np.arange(len(faces)) < 6)
    plain = witness_inputs(faces, PatchSpec(16, 2), n_jobs=1)
    more = witness_inputs(faces, PatchSpec(16, 2), n_jobs=1, histories=2, seed=3)
    assert more.shape == (3 * 6, 4, 16, 16, 3)
    assert np.array_equal(more[:6], plain)  # the faces as they are come first
    assert not np.array_equal(more[6:12], plain)  # then processed copies, same face order
    assert np.array_equal(witness_inputs(faces, PatchSpec(16, 2), n_jobs=1, histories=2, seed=3), more)  # seeded
    crops = witness_inputs(faces, CropSpec(32, 1.3), n_jobs=1, histories=1)
    assert crops.shape == (12, 32, 32, 3) and np.array_equal(crops[:6], faces.crops)


def test_train_without_the_appearance_witness(photo_folder, tmp_path, tiny_model_dir):
    from facecheck.model.bundle import load_model
    from facecheck.model.witnesses.spectrum import SpectrumWitness

    with pytest.raises(ConfigError, match="no witness"):
        train([photo_folder], tmp_path / "none", settings=TrainSettings(epochs=1, **TINY), cache_dir=tmp_path / "cache",
              n_jobs=1, witness_builders=[])
    with pytest.raises(ConfigError, match="--init"):  # nothing to start from without the appearance witness
        train([photo_folder], tmp_path / "none", settings=TrainSettings(epochs=1, **TINY), cache_dir=tmp_path / "cache",
              n_jobs=1, init=tiny_model_dir, witness_builders=[lambda run: SpectrumWitness()])
    out = train([photo_folder], tmp_path / "spectrum", settings=TrainSettings(epochs=1, **TINY), cache_dir=tmp_path / "cache",
                n_jobs=1, histories=1, witness_builders=[lambda run: SpectrumWitness(spec=PatchSpec(32, 2), bins=8)])
    model = load_model(out)
    assert [w.name for w in model.witnesses] == ["spectrum"] and model.manifest["training"]["histories"] == 1
    gmm = model.manifest["training"]
    assert "settings" not in gmm  # no appearance training happened


def test_train_fixed_witnesses_with_stouffer_fusion_and_a_two_sided_witness(photo_folder, tmp_path):
    """The shipped recipe's fusion: a bundle with the co-occurrence witness two-sided, fused by Stouffer's rule,
    loads back and scores its own held-out faces as it stored them."""
    from facecheck.model.bundle import load_model
    from facecheck.model.witnesses.cooc import CoocWitness
    from facecheck.model.witnesses.spectrum import SpectrumWitness

    out = train([photo_folder], tmp_path / "b", settings=TrainSettings(epochs=1, **TINY), cache_dir=tmp_path / "cache",
                n_jobs=1, histories=1, fusion="stouffer", two_sided=["cooc", "absent"],
                witness_builders=[lambda run: SpectrumWitness(spec=PatchSpec(32, 2), bins=8),
                                  lambda run: CoocWitness(spec=PatchSpec(32, 2))])
    model = load_model(out)
    assert [w.name for w in model.witnesses] == ["spectrum", "cooc"]
    assert model.manifest["fusion"]["method"] == "stouffer"
    assert model.scorer.tails == {"spectrum": "low", "cooc": "both"}
    assert model.manifest["fusion"]["stats"]["cooc"]["tails"] == "both"
    # The threshold is the stored real scores' order statistic at the bundle's rate.
    real = model.real_scores.scores_
    assert model.threshold in real and np.mean(real < model.threshold) <= model.false_alarm


def test_a_pool_subset_takes_a_mask_and_refuses_row_indices():
    """Row indices read as a mask would pick the rows whose index value is non-zero: refused."""
    from facecheck.train.data import Pool

    n = 3
    pool = Pool(np.arange(n)[:, None, None, None] * np.ones((n, 8, 8, 3), np.uint8), np.zeros((n, 4), np.float32),
                np.zeros((n, 68, 2), np.float32), np.array(["train", "calib", "train"]), np.ones(n, bool),
                np.zeros((n, 4), np.int64), ["a", "b", "c"])
    picked = pool.subset(pool.split == "train")
    assert picked.source == ["a", "c"] and picked.crops[:, 0, 0, 0].tolist() == [0, 2]
    for wrong in (np.array([0, 2]), np.ones(2, bool)):
        with pytest.raises(TypeError, match="boolean mask"):
            pool.subset(wrong)
