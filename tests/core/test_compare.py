import numpy as np
import pytest

from core.analysis.compare import compare_runs


def test_shared_gained_lost_counts():
    rng = np.random.default_rng(0)
    a0 = rng.uniform(0, 500, (100, 2))
    a1 = a0 + 5
    keep = np.arange(100) < 70  # B keeps 70 of A's matches, slightly moved, and adds 20 new ones
    b0 = np.concatenate([a0[keep] + 0.5, rng.uniform(600, 900, (20, 2))])
    b1 = np.concatenate([a1[keep] - 0.5, rng.uniform(600, 900, (20, 2))])
    comparison = compare_runs(a0, a1, b0, b1, radius_px=2.0)
    assert (comparison.shared, comparison.gained, comparison.lost) == (70, 20, 30)


def test_empty_runs():
    empty = np.zeros((0, 2))
    comparison = compare_runs(empty, empty, np.ones((3, 2)), np.ones((3, 2)))
    assert (comparison.shared, comparison.gained, comparison.lost) == (0, 3, 0)


def test_classify_follows_thresholds_without_a_new_search():
    from core.analysis.compare import classify, find_counterparts

    rng = np.random.default_rng(1)
    a0 = np.stack(np.meshgrid(np.arange(0, 500, 10.0), np.arange(0, 200, 10.0)), -1).reshape(-1, 2)
    a1 = a0 + 3
    counterparts = find_counterparts(a0, a1, a0 + 0.4, a1 - 0.4)
    n = len(a0)
    kept_b = rng.random(n) < 0.5
    comparison = classify(counterparts, np.ones(n, bool), kept_b)
    assert comparison.shared == kept_b.sum() and comparison.gained == 0
    assert comparison.lost == n - kept_b.sum()


def test_keypoint_differences_of_shared_matches():
    from core.analysis.compare import compare_results
    from core.types import MatchResult, RunInfo

    rng = np.random.default_rng(1)
    a0 = rng.uniform(0, 500, (50, 2)).astype(np.float32)
    a1 = a0 + 7
    shift = np.zeros((50, 2), np.float32)
    shift[:10, 0] = 3e-4  # ten matches move by 3e-4 px (in float32: 2.4e-4 to 3.7e-4), one by 0.5 px
    shift[10, 1] = 0.5
    info = RunInfo("eloftr", "w", "cpu", "fp32", ((500, 500), (500, 500)), 0.05)
    sizes = ((500, 500), (500, 500))
    a = MatchResult(a0, a1, np.ones(50, np.float32), sizes, info)
    order = rng.permutation(45)  # B lists 45 of A's matches, shuffled
    b = MatchResult(a0[order], a1[order] + shift[order], np.ones(45, np.float32), sizes, info)
    comparison = compare_results(a, b)
    assert (comparison.shared, comparison.gained, comparison.lost) == (45, 0, 5)
    np.testing.assert_array_equal(comparison.counterpart_b, order)
    assert comparison.max_displacement == pytest.approx(0.5, abs=1e-6)
    counts, edges = comparison.displacement_histogram()
    assert edges[-1] == comparison.radius_px and counts.sum() == 45
    # Bins [0, 1e-5) [1e-5, 1e-4) [1e-4, 1e-3) [1e-3, 1e-2) [1e-2, 0.1) [0.1, 1) [1, 2]
    np.testing.assert_array_equal(counts, [34, 0, 10, 0, 0, 1, 0])


def test_results_on_different_images_are_refused():
    from core.analysis.compare import compare_results
    from core.types import MatchResult, RunInfo

    info = RunInfo("eloftr", "w", "cpu", "fp32", ((64, 64), (64, 64)), 0.05)
    empty = np.zeros((0, 2), np.float32)
    a = MatchResult(empty, empty, np.zeros(0, np.float32), ((64, 64), (64, 64)), info)
    b = MatchResult(empty, empty, np.zeros(0, np.float32), ((64, 64), (80, 64)), info)
    with pytest.raises(ValueError, match="different images"):
        compare_results(a, b)
