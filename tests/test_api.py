"""scan_image / scan_paths with the tiny bundle and real dlib: composition, order, errors, parallelism."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_broken_files, write_image
from PIL import Image

import facecheck
from facecheck.api import ScanResult, scan_image, scan_paths
from facecheck.config import Config
from facecheck.model.bundle import ENV_VAR
from facecheck.model.verdict import AI_GENERATED, REAL, VerdictRule
from facecheck.scan.detect import detect_faces
from facecheck.scan.inputs import crop_face
from facecheck.scan.io import load_image
from facecheck.scan.metadata import Metadata


def test_public_api():
    assert facecheck.__all__ == ["load_image", "detect_faces", "FaceScorer", "scan_image", "scan_paths"]
    assert all(callable(getattr(facecheck, name)) for name in facecheck.__all__)


def test_scan_image_on_the_astronaut(astronaut_path, tiny_model):
    result = scan_image(astronaut_path, tiny_model)
    assert isinstance(result, ScanResult)
    assert result.source_file == str(astronaut_path) and result.status == "faces" and result.error is None
    assert result.threshold == tiny_model.threshold
    image = load_image(astronaut_path)
    assert [f.box for f in result.faces] == [f.box for f in detect_faces(image)]
    for i, face in enumerate(result.faces):
        assert face.face_index == i
        assert math.isfinite(face.loglik)
        assert face.threshold == tiny_model.threshold
        assert face.margin == face.loglik - face.threshold
        assert face.verdict == VerdictRule.for_model(tiny_model).decide(face.loglik)
        assert (face.verdict == REAL) == (face.loglik >= face.threshold)
    # The tiny model was fitted on the astronaut's face: it is real; the mission patch is not a face.
    assert result.faces[0].verdict == REAL
    assert all(f.verdict == AI_GENERATED and f.loglik < result.faces[0].loglik for f in result.faces[1:])


def test_scan_image_composes_the_stages(astronaut_path, tiny_model):
    image = load_image(astronaut_path)
    faces = detect_faces(image)
    appearance = tiny_model.witness("appearance")
    crops = np.stack([crop_face(image, f.box, size=64, scale=appearance.spec.scale) for f in faces])
    loglik = tiny_model.scorer.scorers["appearance"].score_samples(appearance.transform(crops))
    scorer = tiny_model.scorer
    result = scan_image(astronaut_path, tiny_model).faces
    np.testing.assert_allclose([f.witnesses["appearance"] for f in result], loglik, rtol=1e-6)
    # One witness: the fused score is its log-likelihood in standard deviations of held-out real faces.
    expected = (loglik - scorer.mean_["appearance"]) / scorer.std_["appearance"]
    np.testing.assert_allclose([f.loglik for f in result], expected, rtol=1e-6)


def test_scan_with_two_witnesses_fuses_their_standardised_log_likelihoods(astronaut_path, fused_model_dir):
    from facecheck.model.bundle import load_model

    model = load_model(fused_model_dir)
    assert [w.name for w in model.witnesses] == ["appearance", "appearance_1"]
    result = scan_image(astronaut_path, model)
    assert result.faces and result.threshold == model.threshold
    for face in result.faces:
        assert list(face.witnesses) == ["appearance", "appearance_1"]
        expected = sum((ll - model.scorer.mean_[w]) / model.scorer.std_[w] for w, ll in face.witnesses.items())
        assert face.loglik == pytest.approx(expected, rel=1e-9)
        assert face.verdict == VerdictRule.for_model(model).decide(face.loglik)
    assert result.faces[0].witnesses["appearance"] != result.faces[0].witnesses["appearance_1"]


def test_scan_image_on_an_array(astronaut_path, tiny_model):
    from_path = scan_image(astronaut_path, tiny_model)
    from_array = scan_image(load_image(astronaut_path), tiny_model)
    assert from_array.source_file == "<array>"
    assert from_array.faces == from_path.faces


def test_scan_image_without_a_face_or_with_a_broken_file(tmp_path, tiny_model):
    blank = scan_image(np.full((120, 160, 3), 200, np.uint8), tiny_model)
    assert blank.status == "no_face" and blank.faces == () and blank.threshold == tiny_model.threshold
    broken = make_broken_files(tmp_path / "broken")[0]
    result = scan_image(broken, tiny_model)
    assert result.status == "error" and str(broken) in result.error and result.faces == ()


def test_scan_image_locates_the_model_itself(astronaut_path, tiny_model_dir, tiny_model, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tiny_model_dir))
    assert scan_image(astronaut_path).faces == scan_image(astronaut_path, tiny_model).faces


def test_metadata_is_read_for_paths_and_never_touches_the_verdict(astronaut_path, tiny_model, tmp_path):
    from PIL import PngImagePlugin

    assert scan_image(load_image(astronaut_path), tiny_model).metadata is None  # an array has no file
    image = Image.open(astronaut_path)
    image.save(tmp_path / "plain.png")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a face\nSteps: 20, Sampler: Euler a, CFG scale: 7")
    image.save(tmp_path / "generated.png", pnginfo=info)
    plain = scan_image(tmp_path / "plain.png", tiny_model)
    generated = scan_image(tmp_path / "generated.png", tiny_model)
    assert isinstance(plain.metadata, Metadata) and plain.metadata.summary == "stripped"
    assert generated.metadata.summary == "generator-metadata"
    assert generated.faces == plain.faces  # metadata is a separate witness


def test_a_metadata_failure_never_becomes_an_error_row(astronaut_path, tiny_model, monkeypatch):
    import facecheck.scan.prepare

    def boom(path):
        raise MemoryError("hostile metadata")

    monkeypatch.setattr(facecheck.scan.prepare, "read_metadata", boom)
    result = scan_image(astronaut_path, tiny_model)
    assert result.status == "faces" and result.error is None and result.metadata is None
    assert result.faces == scan_image(load_image(astronaut_path), tiny_model).faces


def test_min_face_config_is_honoured(astronaut_path, tiny_model):
    assert scan_image(astronaut_path, tiny_model, config=Config(min_face=200)).status == "no_face"


@pytest.fixture
def mixed_folder(tmp_path, astronaut_path):
    """Broken files, faceless images and two astronauts, created out of name order."""
    folder = tmp_path / "mixed"
    make_broken_files(folder)
    for name in ("z_noise.png", "m_noise.jpg", "b_noise.bmp"):
        write_image(folder / name, size=(64, 48))
    shutil.copy(astronaut_path, folder / "k_astronaut.jpg")
    shutil.copy(astronaut_path, folder / "a_astronaut.jpg")
    return folder


def test_scan_paths_yields_one_result_per_file_in_sorted_order(mixed_folder, tiny_model):
    results = list(scan_paths([mixed_folder], tiny_model, config=Config(batch_files=3)))
    names = [Path(r.source_file).name for r in results]
    assert names == sorted(p.name for p in mixed_folder.iterdir())
    status = {n: r.status for n, r in zip(names, results)}
    assert status == {
        "a_astronaut.jpg": "faces", "b_noise.bmp": "no_face", "bomb.png": "error", "k_astronaut.jpg": "faces",
        "m_noise.jpg": "no_face", "notes.png": "error", "truncated.jpg": "error", "z_noise.png": "no_face",
        "zero.jpg": "error",
    }
    for r in results:
        if r.error:
            assert r.source_file in r.error  # each error names its file
        # Tags that say nothing: "stripped" for a readable image, "" for one whose pixels could not be read
        # (lacking tags says nothing about a file that is not a readable image).
        assert r.metadata.summary == ("" if r.error else "stripped")
    # Errors before, between and after did not disturb the faces' scores.
    alone = scan_image(mixed_folder / "a_astronaut.jpg", tiny_model)
    for r in results:
        if r.status == "faces":
            np.testing.assert_allclose([f.loglik for f in r.faces], [f.loglik for f in alone.faces], rtol=1e-5)


def test_scan_paths_is_the_same_with_one_or_two_workers(mixed_folder, tiny_model):
    one = list(scan_paths([mixed_folder], tiny_model, config=Config(n_jobs=1, batch_files=4)))
    two = list(scan_paths([mixed_folder], tiny_model, config=Config(n_jobs=2, batch_files=4)))
    assert one == two


def test_scan_paths_passes_recursion_and_extensions(mixed_folder, tiny_model):
    (mixed_folder / "sub").mkdir()
    write_image(mixed_folder / "sub" / "deep.png", size=(64, 48))
    config = Config(n_jobs=1)
    assert len(list(scan_paths([mixed_folder], tiny_model, config=config))) == 9
    assert len(list(scan_paths([mixed_folder], tiny_model, config=config, recursive=True))) == 10
    found = scan_paths([mixed_folder], tiny_model, config=config, recursive=True, extensions=["PNG"])
    only_png = [r.source_file for r in found]
    assert [Path(p).name for p in only_png] == ["bomb.png", "notes.png", "deep.png", "z_noise.png"]


def test_scanning_never_modifies_the_files(mixed_folder, tiny_model):
    def snapshot():
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in mixed_folder.iterdir()}

    exif = Image.Exif()
    exif[0x0112] = 6  # loading rotates the pixels; the file must stay as it is
    Image.open(mixed_folder / "a_astronaut.jpg").save(mixed_folder / "rotated.jpg", exif=exif)
    before = snapshot()
    assert len(list(scan_paths([mixed_folder], tiny_model, config=Config(n_jobs=1)))) == 10
    assert snapshot() == before


def test_a_face_without_colour_is_never_called_real(astronaut_path, tiny_model):
    from facecheck.api import scan_image
    from facecheck.model.verdict import is_grayscale
    from facecheck.scan.io import load_image

    image = load_image(astronaut_path)
    gray = np.repeat((image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)[..., None], 3, axis=2)
    assert list(is_grayscale(np.stack([image, gray]))) == [False, True]
    for config in (Config(n_jobs=1), Config(n_jobs=1, uncertain=0.01, false_alarm=0.01)):  # with and without a band
        face = scan_image(gray, tiny_model, config=config).faces[0]
        assert face.verdict in ("uncertain", "ai-generated")
        assert face.p_real is not None  # the rarity is still reported
    assert scan_image(image, tiny_model, config=Config(n_jobs=1, uncertain=0.01, false_alarm=0.01)).faces[0].verdict in ("real", "ai-generated")


def test_workers_started_before_the_bundle_loads_give_the_same_results(mixed_folder, tiny_model, tiny_model_dir):
    """What the CLI does: the workers start on the files from the manifest's specs alone, the bundle loads after."""
    from facecheck.api import prepare_files, scan_files
    from facecheck.model.bundle import bundle_specs
    from facecheck.scan.io import find_images

    files = find_images([mixed_folder])
    config = Config(batch_files=2)  # more files than one batch: worker processes
    specs = bundle_specs(tiny_model_dir)
    assert specs == tiny_model.specs
    early = list(scan_files(files, tiny_model, config=config, prepared=prepare_files(files, specs, config)))
    plain = list(scan_files(files, tiny_model, config=config))
    assert [(r.source_file, r.status, r.error) for r in early] == [(r.source_file, r.status, r.error) for r in plain]
    assert [f.loglik for r in early for f in r.faces] == [f.loglik for r in plain for f in r.faces]


def test_bundle_specs_of_a_folder_without_a_bundle_is_none(tmp_path):
    from facecheck.model.bundle import bundle_specs

    assert bundle_specs(tmp_path) is None
