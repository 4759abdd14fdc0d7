"""Model bundles: locate, sha256 verification, loading without pickle, atomic save, witnesses, format /1."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from facecheck.errors import ConfigError, WeightsError
from facecheck.model import bundle as weights
from facecheck.model.bundle import (
    ENV_VAR,
    EXTRACTOR_FILE,
    LEGACY_FORMAT,
    MANIFEST,
    SCORER_FILE,
    NoShippedModelError,
    load_model,
    locate,
    read_manifest,
    save_bundle,
    sha256_file,
)
from facecheck.model.likelihood import FaceScorer, FusedScorer
from facecheck.model.witnesses import CropSpec, load_witness

# The tiny bundle's files: one appearance witness.
WEIGHTS_FILE, MIXTURE_FILE = "appearance.weights.npz", "appearance.npz"


@pytest.fixture
def bundle(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny bundle, free to damage."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "bundle"))


def _rehash(bundle: Path) -> None:
    """Make the manifest vouch for the files as they are now (a tamperer who also edits it)."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"] = {name: sha256_file(bundle / name) for name in manifest["files"]}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def _flip_byte(path: Path, where: int) -> None:
    data = bytearray(path.read_bytes())
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): a file appears if the pickle is ever executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- round trip ---------------------------------------------------------------------------------


def test_bundle_round_trip(tiny_model_dir, tiny_model):
    manifest = read_manifest(tiny_model_dir)
    assert manifest["format"] == weights.BUNDLE_FORMAT == "facecheck-bundle/2"
    assert set(manifest["files"]) == {WEIGHTS_FILE, MIXTURE_FILE, "real_scores.npy"}
    (entry,) = manifest["witnesses"]
    assert (entry["name"], entry["kind"], entry["weights"], entry["scorer"]) == ("appearance", "appearance", WEIGHTS_FILE,
                                                                                  MIXTURE_FILE)
    assert entry["config"]["spec"] == {"type": "crop", "size": 64, "scale": 1.3}
    assert entry["gmm"] == {"n_components": 2, "covariance_type": "full", "n_dims": 8}
    assert set(manifest["fusion"]["stats"]) == {"appearance"}
    assert manifest["threshold"] == tiny_model.threshold == tiny_model.scorer.threshold_
    assert tiny_model.specs == {"appearance": CropSpec(64, 1.3)}
    appearance = tiny_model.witness("appearance")
    assert appearance.network.input_size == 64 and appearance.network.embed_dim == 16
    crops = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    again = load_model(tiny_model_dir)
    feats = tiny_model.features({"appearance": crops})
    assert np.array_equal(again.features({"appearance": crops})["appearance"], feats["appearance"])
    assert np.array_equal(again.scorer.score_samples(feats), tiny_model.scorer.score_samples(feats))
    with pytest.raises(ConfigError, match="trace"):
        tiny_model.witness("trace")
    # The 40 held-out faces' fused scores, sorted; the bundle's threshold is their 5% order statistic.
    assert manifest["real_scores"] == {"file": "real_scores.npy", "n": 40}
    assert len(again.real_scores) == 40 and np.all(np.diff(again.real_scores.scores_) >= 0)
    assert again.real_scores.threshold(again.false_alarm) == again.threshold


def test_real_scores_file_must_be_a_checked_float_array(tmp_path, tiny_model_dir):
    out = tmp_path / "b"
    shutil.copytree(tiny_model_dir, out)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["real_scores"]["file"] = "other.npy"  # not among the sha256-checked files
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="not among the bundle's checked files"):
        load_model(out)
    shutil.rmtree(out)
    shutil.copytree(tiny_model_dir, out)
    np.save(out / "real_scores.npy", np.array(["a"] * 40, dtype=object), allow_pickle=True)  # a pickle inside
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["real_scores.npy"] = weights.sha256_file(out / "real_scores.npy")
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="unusable fusion"):
        load_model(out)


def test_bundle_folder_follows_the_umask(tiny_model_dir):
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(tiny_model_dir.stat().st_mode) == 0o777 & ~umask


# --- verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [WEIGHTS_FILE, MIXTURE_FILE])
def test_one_flipped_byte_fails_the_sha256_check(bundle, name):
    _flip_byte(bundle / name, (bundle / name).stat().st_size // 2)
    with pytest.raises(WeightsError, match="sha256") as info:
        load_model(bundle)
    assert name in str(info.value)


@pytest.mark.parametrize("name", [WEIGHTS_FILE, MIXTURE_FILE])
def test_truncated_file_is_refused(bundle, name):
    data = (bundle / name).read_bytes()
    (bundle / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="sha256"):
        load_model(bundle)
    _rehash(bundle)  # even when the manifest agrees, a truncated file does not load
    with pytest.raises(WeightsError, match=name):
        load_model(bundle)


def test_missing_manifest_is_refused(bundle):
    (bundle / MANIFEST).unlink()
    with pytest.raises(WeightsError, match=MANIFEST):
        load_model(bundle)


def test_missing_or_escaping_file_is_refused(bundle):
    (bundle / MIXTURE_FILE).unlink()
    with pytest.raises(WeightsError, match="missing"):
        load_model(bundle)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["../outside.txt"] = "0" * 64
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(WeightsError):
        read_manifest(bundle)


@pytest.mark.parametrize("text", ["not json", '{"format": "other/1"}', "[]"])
def test_bad_manifest_is_refused(bundle, text):
    (bundle / MANIFEST).write_text(text)
    with pytest.raises(WeightsError):
        load_model(bundle)


def test_cuda_without_gpu_fails_at_load(tiny_model_dir):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a CUDA GPU")
    with pytest.raises(ConfigError, match="cuda"):
        load_model(tiny_model_dir, device="cuda")


# --- no pickle is ever run ----------------------------------------------------------------------------


def test_marker_payload_is_live(tmp_path):
    """The payload used below really runs code when unpickled (so its absence later means something)."""
    marker = tmp_path / "ran.txt"
    pickle.loads(pickle.dumps(_CreatesMarker(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_never_executed(bundle, tmp_path, writer):
    marker = tmp_path / "pwned.txt"
    payload = {"stem.0.weight": _CreatesMarker(marker)}
    if writer == "torch.save":
        torch.save(payload, bundle / WEIGHTS_FILE)
    else:
        with open(bundle / WEIGHTS_FILE, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    _rehash(bundle)  # the manifest vouches for the file: only the loader stands in the way
    read_manifest(bundle)
    with pytest.raises(WeightsError, match=WEIGHTS_FILE):
        load_model(bundle)
    assert not marker.exists()


def test_scorer_with_pickled_arrays_is_refused(bundle, tmp_path):
    with np.load(bundle / MIXTURE_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    marker = tmp_path / "pwned.txt"
    arrays["weights"] = np.array([_CreatesMarker(marker)], dtype=object)
    with open(bundle / MIXTURE_FILE, "wb") as f:
        np.savez(f, **arrays)
    _rehash(bundle)
    with pytest.raises(WeightsError, match=MIXTURE_FILE):
        load_model(bundle)
    assert not marker.exists()


# --- hostile bundles: refused with a WeightsError, never an exception from below ---------------------


def _scorer_file(bundle: Path) -> Path:
    """The (first) witness's mixture file, in either format."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    return bundle / (SCORER_FILE if manifest["format"] == LEGACY_FORMAT else manifest["witnesses"][0]["scorer"])


def _scorer_arrays(bundle: Path) -> dict:
    with np.load(_scorer_file(bundle)) as data:
        return {k: data[k] for k in data.files}


def _write_scorer(bundle: Path, arrays: dict) -> None:
    with open(_scorer_file(bundle), "wb") as f:
        np.savez(f, **arrays)
    _rehash(bundle)


def _huge_array_member(bundle: Path) -> None:
    """A scorer.npz whose `means` header claims 10**11 float64 values (745 GiB), with 64 bytes of data."""
    import io
    import zipfile

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }".ljust(117) + "\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\x00" * 64
    buf = io.BytesIO()
    np.savez(buf, **_scorer_arrays(bundle))
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(_scorer_file(bundle), "w") as dst:
        for name in src.namelist():
            dst.writestr(name, member if name == "means.npy" else src.read(name))
    _rehash(bundle)


def _params(bundle: Path, **changes) -> None:
    arrays = _scorer_arrays(bundle)
    params = json.loads(str(arrays["params"]))
    arrays["params"] = np.array(json.dumps({**params, **changes}))
    _write_scorer(bundle, arrays)


def _manifest(bundle: Path, change) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    change(manifest)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def _config(change):
    """Edit the first witness's config in the manifest."""
    return lambda b: _manifest(b, lambda m: change(m["witnesses"][0]["config"]))


def _rename_first(name: str):
    def change(m):
        m["witnesses"][0]["name"] = name
        m["fusion"]["stats"] = {name: m["fusion"]["stats"]["appearance"]}
    return lambda b: _manifest(b, change)


HOSTILE_BUNDLES = {
    "manifest nested 200,000 deep": lambda b: (b / MANIFEST).write_text("[" * 200_000),
    "manifest of 9 MB": lambda b: (b / MANIFEST).write_text(" " * 9_000_000 + "{}"),
    "scorer array claiming 745 GiB": _huge_array_member,
    "scorer params nested 200,000 deep": lambda b: _write_scorer(
        b, {**_scorer_arrays(b), "params": np.array("[" * 200_000)}),
    "scorer of other dimensions": lambda b: _write_scorer(
        b, {**_scorer_arrays(b), "components": np.zeros((5, 8), np.float32), "mean": np.zeros(5, np.float32)}),
    "threshold as text": lambda b: _manifest(b, lambda m: m.__setitem__("threshold", "high")),
    "threshold as a list": lambda b: _manifest(b, lambda m: m.__setitem__("threshold", [1, 2])),
    "no threshold": lambda b: _manifest(b, lambda m: m.__setitem__("threshold", None)),
    "crop scale as text": _config(lambda c: c["spec"].__setitem__("scale", "wide")),
    "no input spec": _config(lambda c: c.pop("spec")),
    "patches for the appearance witness": _config(lambda c: c.__setitem__(
        "spec", {"type": "patches", "size": 64, "grid": 2, "scale": 1.0})),
    "input size of 10**6 px": _config(lambda c: (c["spec"].__setitem__("size", 10**6),
                                                 c["extractor"].__setitem__("input_size", 10**6))),
    "spec and extractor sizes differ": _config(lambda c: c["spec"].__setitem__("size", 32)),
    "network widths negative": _config(lambda c: c["extractor"]["network"].__setitem__("widths", [-8, 16, 16, 32])),
    # Would take gigabytes if built: refused by comparing shapes on the meta device, or by its block count.
    "network of 4096-channel stages": _config(lambda c: c["extractor"]["network"].__setitem__("widths", [4096] * 4)),
    "network of 10**6 blocks": _config(lambda c: c["extractor"]["network"].__setitem__("blocks", [10**6, 1, 1, 1])),
    "network config as text": _config(lambda c: c["extractor"].__setitem__("network", "FaceNet")),
    "extractor state_dict of another network": lambda b: (
        np.savez(b / WEIGHTS_FILE, **{"stem.0.weight": np.zeros((3, 3), np.float32)}), _rehash(b)),
    "extractor weights as an object array (a pickle inside the npz)": lambda b: (
        np.savez(b / WEIGHTS_FILE, **{k: np.array([None], object) for k in np.load(b / WEIGHTS_FILE).files}), _rehash(b)),
    "extractor weights not finite": lambda b: (
        np.savez(b / WEIGHTS_FILE, **{k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v
                                      for k, v in np.load(b / WEIGHTS_FILE).items()}), _rehash(b)),
    "files list naming the manifest itself": lambda b: _manifest(
        b, lambda m: m["files"].__setitem__(MANIFEST, "0" * 64)),
    "unknown witness kind": lambda b: _manifest(b, lambda m: (m["witnesses"][0].__setitem__("kind", "hologram"),
                                                              m["witnesses"][0]["config"].__setitem__("kind", "hologram"))),
    "entry and config of other kinds": lambda b: _manifest(b, lambda m: m["witnesses"][0].__setitem__("kind", "trace")),
    "witness name escaping the folder": _rename_first("../appearance"),
    "witness name of 100 characters": _rename_first("a" * 100),
    "no witnesses": lambda b: _manifest(b, lambda m: m.__setitem__("witnesses", [])),
    "witnesses as text": lambda b: _manifest(b, lambda m: m.__setitem__("witnesses", "appearance")),
    "the same witness twice": lambda b: _manifest(b, lambda m: m["witnesses"].append(m["witnesses"][0])),
    "weights file not listed": lambda b: _manifest(b, lambda m: m["files"].pop(WEIGHTS_FILE)),
    "no fusion": lambda b: _manifest(b, lambda m: m.pop("fusion")),
    "fusion of another witness": lambda b: _manifest(b, lambda m: m["fusion"].__setitem__(
        "stats", {"trace": {"mean": 0.0, "std": 1.0}})),
    "fusion std of zero": lambda b: _manifest(b, lambda m: m["fusion"]["stats"]["appearance"].__setitem__("std", 0)),
    "fusion mean as text": lambda b: _manifest(b, lambda m: m["fusion"]["stats"]["appearance"].__setitem__("mean", "x")),
}

# The same attacks on a facecheck 0.2.0 bundle (format /1), whose manifest has no witness list.
LEGACY_HOSTILE = {
    "threshold as text": lambda b: _params(b, threshold="high"),
    "threshold as a list": lambda b: _params(b, threshold=[1, 2]),
    "no threshold": lambda b: _params(b, threshold=None),
    "scorer of other dimensions": HOSTILE_BUNDLES["scorer of other dimensions"],
    "scorer array claiming 745 GiB": _huge_array_member,
    "crop_scale as text": lambda b: _manifest(b, lambda m: m.__setitem__("crop_scale", "wide")),
    "no crop_scale": lambda b: _manifest(b, lambda m: m.pop("crop_scale")),
    "input size of 10**6 px": lambda b: _manifest(b, lambda m: m["extractor"].__setitem__("input_size", 10**6)),
    "network of 4096-channel stages": lambda b: _manifest(
        b, lambda m: m["extractor"]["network"].__setitem__("widths", [4096] * 4)),
    "network config as text": lambda b: _manifest(b, lambda m: m["extractor"].__setitem__("network", "FaceNet")),
    "no extractor": lambda b: _manifest(b, lambda m: m.pop("extractor")),
    "no scorer file listed": lambda b: _manifest(b, lambda m: m["files"].pop(SCORER_FILE)),
    "extractor state_dict of another network": lambda b: (
        torch.save({"stem.0.weight": torch.zeros(3, 3)}, b / EXTRACTOR_FILE), _rehash(b)),
}


@pytest.mark.parametrize("damage", HOSTILE_BUNDLES, ids=list(HOSTILE_BUNDLES))
def test_hostile_bundle_is_refused_with_a_clear_message(bundle, damage):
    HOSTILE_BUNDLES[damage](bundle)
    with pytest.raises(WeightsError) as info:
        load_model(bundle)
    assert str(bundle) in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("damage", LEGACY_HOSTILE, ids=list(LEGACY_HOSTILE))
def test_hostile_legacy_bundle_is_refused_with_a_clear_message(legacy_model_dir, tmp_path, damage):
    bundle = Path(shutil.copytree(legacy_model_dir, tmp_path / "legacy"))
    LEGACY_HOSTILE[damage](bundle)
    with pytest.raises(WeightsError) as info:
        load_model(bundle)
    assert str(bundle) in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("damage", ["manifest nested 200,000 deep", "scorer array claiming 745 GiB",
                                    "threshold as text", "scorer of other dimensions", "unknown witness kind"])
def test_hostile_bundle_through_the_cli_is_one_line_and_exit_2(bundle, damage, astronaut_path):
    from typer.testing import CliRunner

    from facecheck.cli import app

    HOSTILE_BUNDLES[damage](bundle)
    result = CliRunner().invoke(app, ["scan", str(astronaut_path), "--model", str(bundle)])
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


# --- save_bundle ---------------------------------------------------------------------------------


def test_save_bundle_refuses_an_existing_folder_without_force(tiny_model, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(WeightsError, match="force"):
        save_bundle(out, tiny_model.witnesses, tiny_model.scorer)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_save_bundle_force_replaces_and_leaves_no_temporary_folders(tiny_model, tmp_path):
    out = tmp_path / "model"
    save_bundle(out, tiny_model.witnesses, tiny_model.scorer, training={"run": 1})
    (out / "stale.txt").write_text("from the old bundle")
    save_bundle(out, tiny_model.witnesses, tiny_model.scorer, training={"run": 2}, force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([WEIGHTS_FILE, MIXTURE_FILE, MANIFEST, "real_scores.npy"])
    assert read_manifest(out)["training"] == {"run": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert load_model(out).threshold == tiny_model.threshold


def test_failed_save_leaves_the_old_bundle_and_no_temporary_folders(tiny_model, tmp_path):
    out = tmp_path / "model"
    save_bundle(out, tiny_model.witnesses, tiny_model.scorer, training={"run": 1})
    with pytest.raises(FileNotFoundError):
        save_bundle(out, tiny_model.witnesses, tiny_model.scorer, extra_files={"CARD.md": tmp_path / "nope.md"},
                    force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert read_manifest(out)["training"] == {"run": 1}


def test_save_bundle_copies_extra_files_under_the_manifest(tiny_model, tmp_path):
    card = tmp_path / "card.md"
    card.write_text("# model card\n")
    out = save_bundle(tmp_path / "model", tiny_model.witnesses, tiny_model.scorer, extra_files={"MODEL_CARD.md": card})
    assert (out / "MODEL_CARD.md").read_text() == "# model card\n"
    assert read_manifest(out)["files"]["MODEL_CARD.md"] == sha256_file(card)


def test_save_bundle_needs_a_calibrated_scorer(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    mixture = FaceScorer(2, n_dims=4).fit(rng.normal(size=(50, 16)))
    uncalibrated = FusedScorer({"appearance": mixture}).fit_fusion({"appearance": mixture.score_samples(rng.normal(size=(20, 16)))})
    with pytest.raises(WeightsError, match="calibrated"):
        save_bundle(tmp_path / "model", tiny_model.witnesses, uncalibrated)
    assert list(tmp_path.iterdir()) == []


def test_save_bundle_refuses_witnesses_the_scorer_does_not_score(tiny_model, fused_model_dir, tmp_path):
    fused = load_model(fused_model_dir)
    with pytest.raises(WeightsError, match="appearance_1"):
        save_bundle(tmp_path / "model", tiny_model.witnesses, fused.scorer)
    assert list(tmp_path.iterdir()) == []


# --- several witnesses, unknown kinds, format /1 -----------------------------------------------------


def test_two_witnesses_round_trip(fused_model_dir):
    manifest = read_manifest(fused_model_dir)
    assert [(e["name"], e["kind"]) for e in manifest["witnesses"]] == [("appearance", "appearance"),
                                                                        ("appearance_1", "appearance")]
    assert set(manifest["files"]) == {"appearance.weights.npz", "appearance.npz", "appearance_1.weights.npz", "appearance_1.npz",
                                      "real_scores.npy"}
    stats = manifest["fusion"]["stats"]
    assert list(stats) == ["appearance", "appearance_1"] and all(s["std"] > 0 for s in stats.values())
    model = load_model(fused_model_dir)
    assert model.scorer.names == ["appearance", "appearance_1"] and model.threshold == manifest["threshold"]
    crops = np.random.default_rng(1).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    features = model.features({"appearance": crops, "appearance_1": crops})
    assert not np.array_equal(features["appearance"], features["appearance_1"])  # other seeds, other networks
    logliks = model.scorer.witness_scores(features)
    expected = sum((logliks[w] - stats[w]["mean"]) / stats[w]["std"] for w in stats)
    np.testing.assert_allclose(model.scorer.score_samples(features), expected, rtol=1e-12)
    fused, per_face = model.score({"appearance": crops, "appearance_1": crops})
    np.testing.assert_allclose(fused, expected, rtol=1e-12)
    assert per_face[2] == {w: float(logliks[w][2]) for w in stats}


@pytest.mark.parametrize("name", ["appearance_1.weights.npz", "appearance_1.npz"])
def test_a_tampered_second_witness_file_is_refused(fused_model_dir, tmp_path, name):
    bundle = Path(shutil.copytree(fused_model_dir, tmp_path / "fused"))
    _flip_byte(bundle / name, (bundle / name).stat().st_size // 2)
    with pytest.raises(WeightsError, match="sha256") as info:
        load_model(bundle)
    assert name in str(info.value)


def test_an_unknown_witness_kind_is_refused(bundle, tmp_path):
    with pytest.raises(WeightsError, match="unknown witness kind 'hologram'"):
        load_witness(bundle / WEIGHTS_FILE, {"kind": "hologram"}, name="appearance")
    _manifest(bundle, lambda m: (m["witnesses"][0].__setitem__("kind", "hologram"),
                                 m["witnesses"][0]["config"].__setitem__("kind", "hologram")))
    with pytest.raises(WeightsError, match="hologram") as info:
        load_model(bundle)
    assert str(bundle) in str(info.value)


def test_a_legacy_bundle_loads_as_one_appearance_witness(legacy_model_dir, astronaut_path):
    from facecheck import scan_image
    from facecheck.scan.detect import detect_faces
    from facecheck.scan.inputs import crop_face
    from facecheck.scan.io import load_image

    manifest = read_manifest(legacy_model_dir)
    assert manifest["format"] == LEGACY_FORMAT == "facecheck-bundle/1"
    model = load_model(legacy_model_dir)
    assert [(w.name, w.kind) for w in model.witnesses] == [("appearance", "appearance")]
    assert model.specs == {"appearance": CropSpec(64, 1.3)}
    legacy = FaceScorer.load(legacy_model_dir / SCORER_FILE)
    assert model.threshold == legacy.threshold_ == manifest["threshold"]
    # The fused score of a /1 bundle is the log-likelihood itself: 0.2.0's numbers and verdicts are kept.
    image = load_image(astronaut_path)
    crops = np.stack([crop_face(image, f.box, size=64) for f in detect_faces(image)])
    loglik = legacy.score_samples(model.witness("appearance").transform(crops))
    result = scan_image(astronaut_path, model)
    assert [f.loglik for f in result.faces] == [f.witnesses["appearance"] for f in result.faces]
    np.testing.assert_allclose([f.loglik for f in result.faces], loglik, rtol=1e-6)
    assert [f.verdict for f in result.faces] == ["real" if ll >= legacy.threshold_ else "ai-generated" for ll in loglik]


def test_a_legacy_bundle_saved_again_becomes_format_2(legacy_model_dir, tmp_path):
    model = load_model(legacy_model_dir)
    out = save_bundle(tmp_path / "again", model.witnesses, model.scorer)
    again = load_model(out)
    assert again.manifest["format"] == weights.BUNDLE_FORMAT and again.threshold == model.threshold
    assert again.manifest["fusion"]["stats"] == {"appearance": {"mean": 0.0, "std": 1.0}}


def test_the_shipped_bundle_loads(tiny_model_dir, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    try:
        model = load_model()
    except NoShippedModelError:
        pytest.skip("no shipped bundle in this checkout")
    assert model.witnesses and np.isfinite(model.threshold)


# --- locate -----------------------------------------------------------------------------------------


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def test_locate_explicit_path(tiny_model_dir, tmp_path, no_env):
    assert locate(tiny_model_dir) == tiny_model_dir
    assert locate(str(tiny_model_dir)) == tiny_model_dir
    with pytest.raises(WeightsError, match="not a facecheck model bundle"):
        locate(tmp_path)


def test_locate_uses_the_environment_variable(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tiny_model_dir))
    monkeypatch.setattr(weights, "shipped_dir", lambda: tmp_path)
    assert locate() == tiny_model_dir
    assert load_model().threshold == load_model(tiny_model_dir).threshold
    other = Path(shutil.copytree(tiny_model_dir, tmp_path / "other"))
    assert locate(other) == other  # an explicit path wins over the variable


def test_locate_without_a_shipped_model(tmp_path, monkeypatch, no_env):
    monkeypatch.setattr(weights, "shipped_dir", lambda: tmp_path)
    with pytest.raises(NoShippedModelError, match="--model"):
        locate()
    with pytest.raises(WeightsError):
        load_model()


def test_locate_finds_the_shipped_model(tiny_model_dir, monkeypatch, no_env):
    monkeypatch.setattr(weights, "shipped_dir", lambda: tiny_model_dir)
    assert locate() == tiny_model_dir


def test_shipped_dir_in_a_checkout_and_in_an_installed_wheel(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "facecheck"
    package.mkdir(parents=True)
    monkeypatch.setattr(weights, "__file__", str(package / "model" / "bundle.py"))
    assert weights.shipped_dir() == tmp_path / "site-packages" / "weights"  # checkout: repo/weights
    (package / "shipped_model").mkdir()  # a wheel installs weights/ as facecheck/shipped_model/
    assert weights.shipped_dir() == package / "shipped_model"


def test_every_shipped_bundle_file_is_installed_with_the_package():
    """pyproject's package-data must take every file the shipped manifest lists (a wheel without one is refused)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    repo = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "facecheck.shipped_model"]
    manifest = json.loads((repo / "weights" / MANIFEST).read_text())
    listed = [MANIFEST, *manifest["files"]]
    assert "real_scores.npy" in listed
    missing = [name for name in listed if not any(fnmatch.fnmatch(name, p) for p in patterns)]
    assert missing == []
