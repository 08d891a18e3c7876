"""A/B comparison of two runs on the same pair: which matches are shared, gained (only in B) or lost (only in A), and
how far the shared ones moved (PyTorch against an ONNX backend, fp32 against bf16, ...).

Two matches are the same when both endpoints lie within `radius_px` of each other (Chebyshev distance over the four
coordinates). The expensive part, finding each match's counterparts in the other run, is done once per pair of
results with a KD-tree (O(N log N)); which of them count at a given threshold or box selection is then a mask lookup,
so moving either run's threshold never repeats the search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.types import MatchResult

DEFAULT_RADIUS_PX = 2.0
NEIGHBOURS = 4  # counterparts kept per match: more than one can fall within the radius on dense grids
# Keypoint-difference histogram bins (pixels), by decade: exports typically land in the lowest ones.
DISPLACEMENT_EDGES_PX = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0)


@dataclass(frozen=True, eq=False)
class Counterparts:
    """For every match of A its counterparts in B and vice versa (row indices, -1 for none), from one search."""

    a_in_b: np.ndarray  # (NA, NEIGHBOURS) int64
    b_in_a: np.ndarray  # (NB, NEIGHBOURS) int64
    radius_px: float
    displacement_b: np.ndarray | None = None  # (NB,) px to the nearest counterpart in A, larger endpoint; inf: none


@dataclass(frozen=True, eq=False)
class Comparison:
    shared_b: np.ndarray  # (NB,) bool: B's match has a counterpart among A's kept matches
    shared_a: np.ndarray  # (NA,) bool: A's match has a counterpart among B's kept matches
    kept_a: np.ndarray  # (NA,) bool: A's matches taking part (A's own threshold)
    kept_b: np.ndarray  # (NB,) bool
    radius_px: float
    counterpart_b: np.ndarray | None = None  # (NB,) nearest counterpart of each B match in A, -1 for none
    displacement_b: np.ndarray | None = None  # (NB,) px to that counterpart, larger endpoint; inf without one

    @property
    def shared_displacements(self) -> np.ndarray:
        """How far each shared match of B moved from its counterpart in A (the larger of its two endpoints)."""
        if self.displacement_b is None:
            return np.zeros(0)
        return self.displacement_b[self.shared_b & self.kept_b]

    @property
    def max_displacement(self) -> float:
        moved = self.shared_displacements
        return float(moved.max()) if len(moved) else 0.0

    def displacement_histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts of shared matches per decade of displacement, the last bin up to the radius."""
        edges = np.array([*DISPLACEMENT_EDGES_PX, self.radius_px])
        counts, _ = np.histogram(self.shared_displacements, bins=edges)
        return counts, edges

    @property
    def shared(self) -> int:
        return int((self.shared_b & self.kept_b).sum())

    @property
    def gained(self) -> int:
        return int((~self.shared_b & self.kept_b).sum())

    @property
    def lost(self) -> int:
        return int((~self.shared_a & self.kept_a).sum())


def _within_radius(query: np.ndarray, train: np.ndarray, radius: float) -> np.ndarray:
    from scipy.spatial import cKDTree

    found = np.full((len(query), NEIGHBOURS), -1, np.int64)
    if len(query) == 0 or len(train) == 0:
        return found
    k = min(NEIGHBOURS, len(train))
    _, index = cKDTree(train).query(query, k=k, p=np.inf, distance_upper_bound=radius)
    index = np.asarray(index).reshape(len(query), k)
    found[:, :k] = np.where(index < len(train), index, -1)
    return found


def find_counterparts(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray, radius_px: float = DEFAULT_RADIUS_PX
) -> Counterparts:
    a = np.concatenate([a0, a1], axis=1).astype(np.float64)
    b = np.concatenate([b0, b1], axis=1).astype(np.float64)
    b_in_a = _within_radius(b, a, radius_px)
    nearest = b_in_a[:, 0]  # the KD-tree lists counterparts nearest first
    displacement = np.full(len(b), np.inf)
    found = nearest >= 0
    if found.any():
        delta = b[found] - a[nearest[found]]
        displacement[found] = np.maximum(np.hypot(delta[:, 0], delta[:, 1]), np.hypot(delta[:, 2], delta[:, 3]))
    return Counterparts(_within_radius(a, b, radius_px), b_in_a, radius_px, displacement)


def _has_kept(neighbours: np.ndarray, kept_other: np.ndarray) -> np.ndarray:
    if neighbours.size == 0 or len(kept_other) == 0:
        return np.zeros(len(neighbours), bool)
    valid = neighbours >= 0
    return (valid & kept_other[np.where(valid, neighbours, 0)]).any(axis=1)


def classify(counterparts: Counterparts, kept_a: np.ndarray, kept_b: np.ndarray) -> Comparison:
    """Shared / gained / lost for the matches each run keeps now (thresholds, box selection)."""
    return Comparison(
        _has_kept(counterparts.b_in_a, kept_a),
        _has_kept(counterparts.a_in_b, kept_b),
        kept_a,
        kept_b,
        counterparts.radius_px,
        counterparts.b_in_a[:, 0],
        counterparts.displacement_b,
    )


def compare_runs(
    a0: np.ndarray, a1: np.ndarray, b0: np.ndarray, b1: np.ndarray, radius_px: float = DEFAULT_RADIUS_PX
) -> Comparison:
    """Every match of both runs takes part."""
    counterparts = find_counterparts(a0, a1, b0, b1, radius_px)
    return classify(counterparts, np.ones(len(a0), bool), np.ones(len(b0), bool))


def compare_results(a: MatchResult, b: MatchResult, radius_px: float = DEFAULT_RADIUS_PX) -> Comparison:
    """Every match of two results on the same pair, with how far each shared match moved (ValueError if the image
    sizes say they are not on the same pair)."""
    if a.image_sizes != b.image_sizes:
        raise ValueError(f"the runs are on different images: sizes {a.image_sizes} and {b.image_sizes}")
    counterparts = find_counterparts(a.kpts0, a.kpts1, b.kpts0, b.kpts1, radius_px)
    return classify(counterparts, np.ones(len(a), bool), np.ones(len(b), bool))
