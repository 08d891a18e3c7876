import numpy as np

from core.analysis.line_budget import even_subsample


def _dense_and_sparse(n_dense: int = 20000, n_sparse: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dense = rng.uniform([0, 0], [200, 200], (n_dense, 2))  # one crowded corner
    sparse = rng.uniform([400, 300], [800, 600], (n_sparse, 2))
    return np.concatenate([dense, sparse])[rng.permutation(n_dense + n_sparse)]


def test_budget_is_respected_and_sparse_regions_keep_every_line():
    points = _dense_and_sparse()
    sample = even_subsample(points, (600, 800), budget=1000)
    assert 500 < sample.drawable.sum() <= 1000
    sparse = points[:, 0] >= 400
    assert sample.drawable[sparse].all(), "a region with few matches is never thinned"


def test_each_cell_keeps_its_best_scored_lines_so_the_set_grows_with_the_visible_prefix():
    points = _dense_and_sparse(5000, 0)
    sample = even_subsample(points, (600, 800), budget=300)
    previous = 0
    for visible in (10, 100, 1000, 5000):
        drawn = np.count_nonzero(sample.drawable[:visible])
        assert drawn >= previous
        previous = drawn
    # The first matches (best scores) are drawn while their cells have room: the top ones always are.
    assert sample.drawable[: sample.per_cell].all()


def test_small_results_draw_everything():
    points = np.random.default_rng(1).uniform(0, 100, (50, 2))
    sample = even_subsample(points, (100, 100), budget=3000)
    assert sample.drawable.all() and not sample.thinned
