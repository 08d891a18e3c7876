"""Which match lines to draw when there are more than a person can read: a spatially even subsample.

Image 0 is cut into a grid and each cell keeps at most `per_cell` lines, its best-scored ones. Because results are
sorted best first, the lines drawn at any threshold are exactly the drawable ones among the visible prefix, so the
set only grows as the threshold drops: a renderer can add lines incrementally. Sparse regions keep every line; dense
regions are thinned evenly. Counts, histograms, geometry and exports always use every match, never this subsample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_LINE_BUDGET = 2000  # lines drawn at most: about what stays readable on a full-screen pair
MIN_LINE_BUDGET = 1  # a typed budget is the budget: 20 draws at most 20 lines


@dataclass(frozen=True, eq=False)
class LineSubsample:
    drawable: np.ndarray  # (N,) bool: the line may be drawn when its match is visible
    budget: int
    cell_px: float  # grid cell size on image 0 (0 when every line is drawable)
    per_cell: int

    @property
    def thinned(self) -> bool:
        return not bool(self.drawable.all())


def _rank_in_cell(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point, how many points of its cell come before it (score order); and the cell sizes."""
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]])
    sizes = np.diff(np.r_[starts, len(cells)])
    rank_sorted = np.arange(len(cells)) - np.repeat(starts, sizes)
    rank = np.empty(len(cells), np.int64)
    rank[order] = rank_sorted
    return rank, sizes


def even_subsample(kpts0: np.ndarray, image_size0: tuple[int, int], budget: int = DEFAULT_LINE_BUDGET) -> LineSubsample:
    """At most `budget` drawable lines, spread over image 0 (image_size0 = (height, width))."""
    n = len(kpts0)
    budget = max(int(budget), MIN_LINE_BUDGET)
    if n <= budget:
        return LineSubsample(np.ones(n, bool), budget, 0.0, n)
    h, w = max(image_size0[0], 1), max(image_size0[1], 1)
    cell = float(np.sqrt(h * w / budget))  # about `budget` cells to start with
    while True:
        columns = int(np.ceil(w / cell))
        ix = np.clip((kpts0[:, 0] / cell).astype(np.int64), 0, columns - 1)
        iy = np.clip((kpts0[:, 1] / cell).astype(np.int64), 0, int(np.ceil(h / cell)) - 1)
        rank, sizes = _rank_in_cell(iy * columns + ix)
        if len(sizes) <= budget:
            break
        cell *= 1.5  # more occupied cells than lines allowed: coarser grid
    # The largest per-cell cap that keeps the total within the budget.
    per_cell = 1
    while np.minimum(sizes, per_cell + 1).sum() <= budget:
        per_cell += 1
    return LineSubsample(rank < per_cell, budget, cell, per_cell)
