from __future__ import annotations

import numpy as np
import pytest

from core.analysis.geometry import GeometryOptions, estimate, sampson_distance, transfer
from core.analysis.synthetic import random_homography


def _homography_matches(seed: int, n: int = 400, outlier_fraction: float = 0.2, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    true_h = random_homography(h, w, seed, strength=0.1)
    kpts0 = rng.uniform([0, 0], [w, h], (n, 2))
    kpts1 = transfer(true_h, kpts0) + rng.normal(0, noise, (n, 2))
    outliers = rng.random(n) < outlier_fraction
    kpts1[outliers] += rng.uniform(15, 120, (outliers.sum(), 2)) * rng.choice([-1, 1], (outliers.sum(), 2))
    return true_h, kpts0, kpts1, outliers, (h, w)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_homography_corner_error_below_one_pixel_and_outliers_flagged(seed):
    true_h, kpts0, kpts1, outliers, (h, w) = _homography_matches(seed)
    result = estimate(kpts0, kpts1, GeometryOptions(model="H", threshold_px=3.0))
    assert result.ok, result.status
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    corner_error = np.linalg.norm(transfer(result.matrix, corners) - transfer(true_h, corners), axis=1).max()
    assert corner_error < 1.0
    assert np.all(~result.inliers[outliers]), "every injected outlier is flagged"
    assert result.inliers[~outliers].mean() > 0.97
    assert result.residuals[~outliers].max() < 3.0


def _two_view_scene(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    k = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    angle = 0.15
    r = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    t = np.array([-1.0, 0.1, 0.05])
    points = np.column_stack([rng.uniform(-3, 3, n), rng.uniform(-2, 2, n), rng.uniform(6, 14, n)])

    def project(p):
        x = p @ k.T
        return x[:, :2] / x[:, 2:]

    kpts0 = project(points)
    kpts1 = project(points @ r.T + t)
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    true_f = np.linalg.inv(k).T @ tx @ r @ np.linalg.inv(k)
    return kpts0, kpts1, true_f / np.linalg.norm(true_f)


def test_fundamental_matrix_residuals_separate_true_and_false_matches():
    kpts0, kpts1, true_f = _two_view_scene(3)
    rng = np.random.default_rng(4)
    noisy1 = kpts1 + rng.normal(0, 0.5, kpts1.shape)
    assert sampson_distance(true_f, kpts0, kpts1).max() < 1e-6, "the scene's own F is exact"
    outliers = rng.random(len(kpts0)) < 0.25
    noisy1[outliers] = rng.uniform([0, 0], [640, 480], (outliers.sum(), 2))
    result = estimate(kpts0, noisy1, GeometryOptions(model="F", threshold_px=2.0))
    assert result.ok, result.status
    assert np.mean(result.residuals[~outliers] < 2.0) > 0.97
    assert np.mean(result.residuals[outliers] > 2.0) > 0.85
    # The true F explains the inliers as well as the estimate does.
    assert np.median(sampson_distance(true_f, kpts0[~outliers], noisy1[~outliers])) < 1.0


@pytest.mark.parametrize(
    "kpts0, kpts1, model",
    [
        (np.zeros((0, 2)), np.zeros((0, 2)), "H"),
        (np.random.default_rng(0).uniform(0, 100, (3, 2)), np.random.default_rng(1).uniform(0, 100, (3, 2)), "H"),
        (
            np.column_stack([np.arange(20.0), 2 * np.arange(20.0)]),
            np.column_stack([np.arange(20.0), np.arange(20.0)]),
            "H",
        ),
        (np.tile([[1.0, 2.0], [3.0, 4.0]], (10, 1)), np.tile([[5.0, 6.0], [7.0, 9.0]], (10, 1)), "F"),
        (np.random.default_rng(2).uniform(0, 100, (7, 2)), np.random.default_rng(3).uniform(0, 100, (7, 2)), "F"),
    ],
    ids=["empty", "three", "collinear", "duplicates", "seven-for-F"],
)
def test_degenerate_inputs_give_the_not_enough_state(kpts0, kpts1, model):
    result = estimate(kpts0, kpts1, GeometryOptions(model=model))
    assert not result.ok
    assert result.status.startswith(f"not enough matches for {model}")
    assert len(result.inliers) == len(kpts0) and not result.inliers.any()


def test_non_finite_coordinates_are_reported_not_raised():
    kpts = np.random.default_rng(0).uniform(0, 100, (20, 2))
    bad = kpts.copy()
    bad[3] = np.nan
    result = estimate(bad, kpts, GeometryOptions(model="H"))
    assert not result.ok and "non-finite" in result.status


def test_assessment_calls_tiny_support_unreliable():
    from core.analysis.geometry import assess

    assert assess("H", True, 4, 6).verdict == "unreliable"
    assert assess("H", True, 3, 63).verdict == "no model"
    assert assess("H", True, 4, 14).verdict == "unreliable"
    assert assess("F", True, 12, 20).verdict == "unreliable"
    assert assess("F", True, 800, 1000).verdict == "reliable"
    assert assess("F", False, 0, 5, "not enough matches").verdict == "no model"


def test_fit_on_a_subset_gives_flags_for_every_match():
    from core.analysis.geometry import fit_and_apply

    true_h, kpts0, kpts1, outliers, _ = _homography_matches(3)
    fit_on = np.zeros(len(kpts0), bool)
    fit_on[:200] = True
    result = fit_and_apply(kpts0, kpts1, fit_on, GeometryOptions(model="H", threshold_px=3.0))
    assert len(result.inliers) == len(kpts0)
    assert (result.inliers[200:] == ~outliers[200:]).mean() > 0.97, "matches outside the fit are judged too"


def test_epipolar_segment_passes_through_the_match():
    from core.analysis.geometry import epipolar_segment

    h, w = 480, 640
    rng = np.random.default_rng(5)
    kpts0 = rng.uniform([0, 0], [w, h], (200, 2))
    kpts1 = kpts0 + np.array([25.0, 0.0])  # a sideways shift: horizontal epipolar lines
    result = estimate(kpts0, kpts1, GeometryOptions(model="F", threshold_px=1.0))
    assert result.ok
    (x0, y0), (x1, y1) = epipolar_segment(result.matrix, kpts0[0], (h, w))
    direction = np.array([x1 - x0, y1 - y0]) / np.hypot(x1 - x0, y1 - y0)
    offset = kpts1[0] - np.array([x0, y0])
    assert abs(offset[0] * direction[1] - offset[1] * direction[0]) < 1.0
