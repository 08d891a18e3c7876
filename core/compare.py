"""A/B comparison of two runs on the same pair: which matches are shared, gained (only in B) or lost (only in A), and
how far the shared ones moved (e.g. PyTorch against an ONNX backend, or fp32 against bf16)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import MatchResult

DEFAULT_RADIUS_PX = 2.0
# Keypoint-difference histogram bins (pixels), by decade: exports typically land in the lowest ones.
DISPLACEMENT_EDGES_PX = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0)


@dataclass(frozen=True, eq=False)
class Comparison:
    shared_b: np.ndarray  # (NB,) bool: B's match has a counterpart in A
    shared_a: np.ndarray  # (NA,) bool
    radius_px: float
    counterpart_b: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # (NB,) nearest A match, -1: none
    # (NB,) for each B match, the larger of its two endpoints' distances (pixels) to its counterpart's; inf: none.
    displacement_b: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def shared(self) -> int:
        return int(self.shared_b.sum())

    @property
    def gained(self) -> int:
        return int((~self.shared_b).sum())

    @property
    def lost(self) -> int:
        return int((~self.shared_a).sum())

    @property
    def shared_displacements(self) -> np.ndarray:
        """Keypoint difference (pixels) of each shared match, in B's order."""
        return self.displacement_b[self.shared_b]

    @property
    def max_displacement(self) -> float:
        """Largest keypoint difference among shared matches (0 when none are shared)."""
        moved = self.shared_displacements
        return float(moved.max()) if len(moved) else 0.0

    def displacement_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of shared matches per keypoint-difference bin and the bin edges (pixels, by decade up to the
        matching radius); the last bin holds everything from 1 px to the radius."""
        edges = np.array([e for e in DISPLACEMENT_EDGES_PX if e < self.radius_px] + [self.radius_px])
        counts, _ = np.histogram(self.shared_displacements, bins=edges)
        return counts, edges


def _nearest(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and Chebyshev distance (max over the 4 coordinates) of each query's nearest train row."""
    index = np.full(len(query), -1)
    distance = np.full(len(query), np.inf)
    if len(query) == 0 or len(train) == 0:
        return index, distance
    chunk = max(1, 4_000_000 // max(len(train), 1))
    for start in range(0, len(query), chunk):
        block = query[start : start + chunk]
        d = np.abs(block[:, None, :] - train[None, :, :]).max(axis=2)
        best = d.argmin(axis=1)
        index[start : start + chunk] = best
        distance[start : start + chunk] = d[np.arange(len(block)), best]
    return index, distance


def compare_runs(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray, radius_px: float = DEFAULT_RADIUS_PX
) -> Comparison:
    """Matches are the same when both endpoints lie within `radius_px` of each other (original pixels)."""
    a = np.concatenate([a0, a1], axis=1).astype(np.float32)
    b = np.concatenate([b0, b1], axis=1).astype(np.float32)
    nearest_b, dist_b = _nearest(b, a)
    _, dist_a = _nearest(a, b)
    displacement = np.full(len(b), np.inf)
    found = nearest_b >= 0
    if found.any():
        delta = (b[found] - a[nearest_b[found]]).astype(np.float64)
        displacement[found] = np.maximum(np.hypot(delta[:, 0], delta[:, 1]), np.hypot(delta[:, 2], delta[:, 3]))
    return Comparison(dist_b <= radius_px, dist_a <= radius_px, radius_px, nearest_b, displacement)


def compare_results(a: MatchResult, b: MatchResult, radius_px: float = DEFAULT_RADIUS_PX) -> Comparison:
    """compare_runs() for two results on the same pair (ValueError if the image sizes say otherwise)."""
    if a.image_sizes != b.image_sizes:
        raise ValueError(f"the runs are on different images: sizes {a.image_sizes} and {b.image_sizes}")
    return compare_runs(a.kpts0, a.kpts1, b.kpts0, b.kpts1, radius_px)
