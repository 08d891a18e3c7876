"""Overlap check: how much of each image the inlier matches cover, on a coarse grid, and a plain verdict.

Unrelated pairs (a retrieval mistake, a repeated texture) typically keep a handful of "inliers" clustered in one
spot; a real overlap spreads over many cells of both images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID_CELLS = 8  # cells along each side of an image
MIN_INLIERS = 15  # fewer verified matches than this is no evidence of overlap
MIN_COVERAGE = 0.05  # share of cells; below it in either image there is no overlap worth the name
SMALL_COVERAGE = 0.15


@dataclass(frozen=True)
class Overlap:
    coverage: tuple[float, float]  # share of grid cells holding at least one inlier, per image
    inliers: int
    verdict: str  # "overlap", "small overlap" or "no overlap found"


def coverage(points: np.ndarray, size: tuple[int, int], cells: int = GRID_CELLS) -> float:
    """Share of a cells x cells grid over an image of size (height, width) that holds at least one point."""
    h, w = size
    points = np.asarray(points, np.float64).reshape(-1, 2)
    inside = (points[:, 0] >= -0.5) & (points[:, 0] < w - 0.5) & (points[:, 1] >= -0.5) & (points[:, 1] < h - 0.5)
    if h <= 0 or w <= 0 or not inside.any():
        return 0.0
    column = np.clip(((points[inside, 0] + 0.5) / w * cells).astype(int), 0, cells - 1)
    row = np.clip(((points[inside, 1] + 0.5) / h * cells).astype(int), 0, cells - 1)
    return len(np.unique(row * cells + column)) / (cells * cells)


def check_overlap(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    image_sizes: tuple[tuple[int, int], tuple[int, int]],
    inliers: np.ndarray | None = None,
) -> Overlap:
    """inliers: which matches to count (all of them when None)."""
    if inliers is not None:
        kpts0, kpts1 = np.asarray(kpts0)[inliers], np.asarray(kpts1)[inliers]
    shares = (coverage(kpts0, image_sizes[0]), coverage(kpts1, image_sizes[1]))
    count = len(kpts0)
    if count < MIN_INLIERS or min(shares) < MIN_COVERAGE:
        verdict = "no overlap found"
    elif min(shares) < SMALL_COVERAGE:
        verdict = "small overlap"
    else:
        verdict = "overlap"
    return Overlap(shares, count, verdict)
