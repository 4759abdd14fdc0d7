"""Evaluation metrics against scikit-learn, the format-matching normalisation, perturbations, the report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from facecheck import evaluate as ev
from facecheck.config import Config
from facecheck.errors import ConfigError
from facecheck.scan.imaging import jpeg
from facecheck.scan.nuisance import STAT_NAMES


def test_metrics_match_scikit_learn_on_hand_made_scores():
    real = np.array([-10.0, -11.0, -12.0, -9.0, -30.0])  # log-likelihoods
    fake = np.array([-20.0, -25.0, -10.5, -40.0])
    m = ev.detection_metrics(real, fake, threshold=-15.0)
    y = np.r_[np.zeros(5), np.ones(4)]
    s = -np.r_[real, fake]
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["ap"] == pytest.approx(average_precision_score(y, s))
    # flagged: loglik < -15 -> real: {-30}; fake: {-20, -25, -40}
    assert m["fpr_at_threshold"] == pytest.approx(1 / 5)
    assert m["tpr_at_threshold"] == pytest.approx(3 / 4)
    assert m["acc_at_threshold"] == pytest.approx((4 + 3) / 9)
    assert (m["n_real"], m["n_fake"]) == (5, 4)


def test_tpr_at_fixed_false_alarm_rate():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, 200_000)
    fake = rng.normal(-3, 1, 200_000)  # lower likelihood
    m = ev.detection_metrics(real, fake, threshold=0.0)
    # at 5% FPR the cut is the real scores' 95th percentile of -loglik: about 1.645 -> TPR = P(N(3,1) > 1.645)
    assert m["tpr_at_5pct_fpr"] == pytest.approx(0.912, abs=0.01)
    assert m["tpr_at_1pct_fpr"] == pytest.approx(0.750, abs=0.01)
    assert m["auc"] == pytest.approx(0.983, abs=0.005)


def test_metrics_need_both_classes():
    with pytest.raises(ValueError):
        ev.detection_metrics(np.array([]), np.array([1.0]), 0.0)


def test_match_format_resizes_and_reencodes_every_image():
    rng = np.random.default_rng(1)
    png_like = rng.integers(0, 255, (512, 384, 3), dtype=np.uint8)  # a lossless, larger image
    small = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    a, b = ev.match_format(png_like), ev.match_format(small)
    assert min(a.shape[:2]) == 256 and min(b.shape[:2]) == 256
    assert a.shape[:2] == (341, 256) and b.shape[:2] == (256, 384)
    # JPEG q90 was applied: re-encoding once more changes little, but the result differs from a plain resize
    plain = ev._resize(png_like, 256 / 384)
    assert not np.array_equal(a, plain)
    assert np.abs(jpeg(a, 90).astype(int) - a).mean() < np.abs(a.astype(int) - plain).mean()


def test_matched_condition_transforms_both_classes(tmp_path, monkeypatch, tiny_model, astronaut_path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    Image.open(astronaut_path).save(real / "a.png")
    Image.open(astronaut_path).save(fake / "b.jpg", quality=95)
    seen = []
    original = ev.match_format
    monkeypatch.setattr(ev, "match_format", lambda im: seen.append(im.shape) or original(im))
    # One worker: the patched function records its calls in this process, not in a loky worker.
    metrics, rows = ev.evaluate([real], {"gen": fake}, tiny_model, conditions=ev.conditions_for("both", None),
                                config=Config(n_jobs=1))
    assert len(seen) == 2  # one real and one fake image went through the normalisation
    assert set(metrics) == {"as_distributed", "matched"}
    assert {r["group"] for r in rows if r["condition"] == "matched"} == {"real", "gen"}


def test_conditions_and_perturbation_parsing():
    conds = ev.conditions_for("both", "jpeg75,resize0.5,blur1")
    assert set(conds) == {"as_distributed", "matched"} | {f"{b}+{p}" for b in ("as_distributed", "matched")
                                                         for p in ("jpeg75", "resize0.5", "blur1")}
    image = np.random.default_rng(0).integers(0, 255, (100, 80, 3), dtype=np.uint8)
    assert conds["as_distributed+resize0.5"](image).shape == (50, 40, 3)
    assert conds["matched+resize0.5"](image).shape[:2] == (160, 128)
    for bad in ("jpeg0", "resize9", "sharpen2", "blur"):
        with pytest.raises(ConfigError):
            ev.parse_perturbations(bad)
    with pytest.raises(ConfigError):
        ev.conditions_for("sometimes", None)


def test_evaluate_cli_writes_report(tmp_path, tiny_model_dir, astronaut_path):
    from typer.testing import CliRunner

    from facecheck.cli import app

    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    img = Image.open(astronaut_path)
    for i, q in enumerate((95, 85, 75)):
        img.save(real / f"r{i}.jpg", quality=q)
        img.rotate(3 * (i + 1)).save(fake / f"f{i}.jpg", quality=q)
    Image.new("RGB", (64, 64), "gray").save(fake / "blank.png")
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["evaluate", "--real", str(real), "--fake", f"rot={fake}", "--model", str(tiny_model_dir),
                                   "--out", str(out), "--matched", "both", "--perturb", "jpeg75", "-q"])
    assert res.exit_code == 0, res.output
    assert "AUC" in res.stdout and "minus the log-likelihood" in res.stdout or "-loglik" in res.stdout
    payload = json.loads((out / "metrics.json").read_text())
    assert set(payload["conditions"]) == {"as_distributed", "matched", "as_distributed+jpeg75", "matched+jpeg75"}
    counts = payload["conditions"]["as_distributed"]["counts"]
    assert counts["rot"]["no_face"] == 1 and counts["real"]["face"] == 3  # the blank image is counted, not dropped
    assert sorted(p.name for p in out.glob("*.png")) == sorted(
        [f"{k}_{c}.png" for k in ("roc", "hist") for c in ("as_distributed", "matched", "as_distributed_jpeg75", "matched_jpeg75")])
    lines = (out / "scores.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 * 7
    assert lines[0] == ("condition,group,label,path,status,loglik,loglik_appearance,"
                        "stat_log_pixels,stat_log_face,stat_jpeg_quant,stat_log_lap_var,stat_hf_share,stat_mf_share")
    bad = CliRunner().invoke(app, ["evaluate", "--real", str(real), "--fake", "nodir", "--model", str(tiny_model_dir)])
    assert bad.exit_code == 2 and "NAME=DIR" in bad.stderr


def test_scores_carry_each_witness_and_the_fused_score(tmp_path, fused_model_dir, astronaut_path):
    import csv

    from facecheck.model.bundle import load_model

    model = load_model(fused_model_dir)
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    img = Image.open(astronaut_path)
    img.save(real / "r.jpg", quality=95)
    img.rotate(5).save(fake / "f.jpg", quality=95)
    Image.new("RGB", (64, 64), "gray").save(fake / "blank.png")
    metrics, rows = ev.evaluate([real], {"rot": fake}, model, conditions={"as_distributed": None}, config=Config(n_jobs=1))
    ev.write_report(tmp_path / "report", metrics, rows, threshold=model.threshold, plots=False)
    with open(tmp_path / "report" / "scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert list(scores[0]) == ["condition", "group", "label", "path", "status", "loglik", "loglik_appearance",
                               "loglik_appearance_1", *(f"stat_{n}" for n in STAT_NAMES)]
    stats = model.manifest["fusion"]["stats"]
    for row in scores:
        if row["status"] == "face":
            fused = sum((float(row[f"loglik_{w}"]) - s["mean"]) / s["std"] for w, s in stats.items())
            assert float(row["loglik"]) == pytest.approx(fused, rel=1e-9)
        else:  # the blank image: counted, with no score from any witness
            assert row["loglik"] == row["loglik_appearance"] == row["loglik_appearance_1"] == "nan"
    assert metrics["as_distributed"]["counts"]["rot"] == {"face": 1, "no_face": 1, "error": 0}
