import numpy as np

from core.compare import compare_runs


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
    from core.compare import classify, find_counterparts

    rng = np.random.default_rng(1)
    a0 = np.stack(np.meshgrid(np.arange(0, 500, 10.0), np.arange(0, 200, 10.0)), -1).reshape(-1, 2)
    a1 = a0 + 3
    counterparts = find_counterparts(a0, a1, a0 + 0.4, a1 - 0.4)
    n = len(a0)
    kept_b = rng.random(n) < 0.5
    comparison = classify(counterparts, np.ones(n, bool), kept_b)
    assert comparison.shared == kept_b.sum() and comparison.gained == 0
    assert comparison.lost == n - kept_b.sum()
