"""A/B comparison of two runs on the same pair: which matches are shared, gained (only in B) or lost (only in A)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RADIUS_PX = 2.0


@dataclass(frozen=True, eq=False)
class Comparison:
    shared_b: np.ndarray  # (NB,) bool: B's match has a counterpart in A
    shared_a: np.ndarray  # (NA,) bool
    radius_px: float

    @property
    def shared(self) -> int:
        return int(self.shared_b.sum())

    @property
    def gained(self) -> int:
        return int((~self.shared_b).sum())

    @property
    def lost(self) -> int:
        return int((~self.shared_a).sum())


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
    _, dist_b = _nearest(b, a)
    _, dist_a = _nearest(a, b)
    return Comparison(dist_b <= radius_px, dist_a <= radius_px, radius_px)
