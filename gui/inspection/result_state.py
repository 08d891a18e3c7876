"""The result on screen, Qt-free: the matches, the id that tags everything computed from them, the display threshold
and the visible set it makes with the box.

Results are sorted best first, so the matches passing the threshold are a prefix of the result; a box (owned by
SelectionState, passed in here) narrows that prefix further. "Visible" means both.

Events: `result_changed`, `threshold_changed(value)`, `visible_changed`. InspectionModel changes this state and then
announces it, in the order its views rely on (a selection the change hides is dropped first).
"""

from __future__ import annotations

import numpy as np
from psygnal import Signal

from core.formats.drawing import score_range as scores_range
from core.types import DEFAULT_DISPLAY_THRESHOLD, MatchOptions, MatchResult

from .selection import Region


def score_range(result: MatchResult | None) -> tuple[float, float]:
    return (0.0, 1.0) if result is None else scores_range(result.scores)


class ResultState:
    result_changed = Signal()
    threshold_changed = Signal(float)
    visible_changed = Signal()  # the visible set changed (threshold or box)

    def __init__(self) -> None:
        self.result: MatchResult | None = None
        self.result_id = 0
        self.options: MatchOptions | None = None  # what the result was computed with
        self.stored_inliers: np.ndarray | None = None  # verification stored with matches from a matching run
        self.threshold = DEFAULT_DISPLAY_THRESHOLD
        self.score_range = score_range(None)  # asked on every slider step: computed once per result
        self.prefix = 0  # how many matches pass the threshold (before any box)
        self.region_mask: np.ndarray | None = None
        self._visible: np.ndarray | None = None
        self._next_id = 0

    def _new_id(self) -> None:
        self._next_id += 1  # whatever was computed for the old result matches no id from now on
        self.result_id = self._next_id

    def reserve_id(self) -> int:
        """A fresh id for a result that is not shown (run A of a comparison): no result on screen ever gets it."""
        self._next_id += 1
        return self._next_id

    def clear(self) -> None:
        self.result = self.options = self.stored_inliers = None
        self.score_range = score_range(None)
        self._new_id()
        self.region_mask = None
        self._update_prefix()

    def replace(self, result: MatchResult, options: MatchOptions | None, stored_inliers: np.ndarray | None) -> None:
        """A best-first result replaces the old one; the threshold is kept within its score range."""
        self._new_id()
        self.result, self.options, self.stored_inliers = result, options, stored_inliers
        self.score_range = low, high = score_range(result)
        self.threshold = float(min(max(self.threshold, low), high))
        self.region_mask = None
        self._update_prefix()

    def set_threshold(self, value: float) -> bool:
        """Clamped to the score range; False when that is the threshold already."""
        low, high = self.score_range
        value = float(min(max(value, low), high))
        if abs(value - self.threshold) < 1e-12:
            return False
        self.threshold = value
        self._update_prefix()
        return True

    def set_region(self, region: Region | None) -> None:
        if region is None or self.result is None:
            self.region_mask = None
        else:
            points = self.result.kpts0 if region.side == 0 else self.result.kpts1
            self.region_mask = region.contains(points)
        self._visible = None

    def _update_prefix(self) -> None:
        if self.result is None:
            self.prefix = 0
        else:
            # scores are sorted descending: count those >= threshold by a binary search on the negated scores
            self.prefix = int(np.searchsorted(-self.result.scores, -self.threshold, side="right"))
        self._visible = None

    def visible_mask(self) -> np.ndarray:
        if self._visible is None:
            n = 0 if self.result is None else len(self.result)
            mask = np.zeros(n, bool)
            mask[: self.prefix] = True
            if self.region_mask is not None:
                mask &= self.region_mask
            self._visible = mask
        return self._visible

    def visible_count(self) -> int:
        if self.region_mask is None:
            return self.prefix
        return int(np.count_nonzero(self.region_mask[: self.prefix]))

    def is_visible(self, index: int) -> bool:
        return self.result is not None and 0 <= index < len(self.result) and bool(self.visible_mask()[index])
