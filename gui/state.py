"""The inspector's state: the pair shown, the result computed for it, threshold, selection, geometry, A/B run.

Views listen to the signals and never change each other directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.compare import Comparison, compare_runs
from core.geometry import GeometryResult
from core.io import LoadedImage
from core.types import DEFAULT_DISPLAY_THRESHOLD, MatchResult


@dataclass(frozen=True)
class ABRun:
    label: str
    result: MatchResult
    threshold: float


class InspectorState(QObject):
    pairChanged = Signal()
    resultChanged = Signal()
    thresholdChanged = Signal(float)
    selectionChanged = Signal(int)  # index into the result arrays, -1 for none
    hoverChanged = Signal(int)
    busyChanged = Signal(bool)
    geometryChanged = Signal()
    comparisonChanged = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.images: list[LoadedImage | None] = [None, None]
        self.pair_version = 0  # bumps on every image change: results carry the version they were made for
        self.result: MatchResult | None = None
        self.threshold = DEFAULT_DISPLAY_THRESHOLD
        self.selected = -1
        self.hovered = -1
        self.busy = False
        self.geometry: GeometryResult | None = None
        self.geometry_threshold: float | None = None  # the display threshold the geometry was fitted at
        self.reference_run: ABRun | None = None
        self.comparison: Comparison | None = None

    # --- pair ---------------------------------------------------------------------------------------------
    def set_image(self, side: int, image: LoadedImage | None) -> None:
        self.images[side] = image
        self.pair_version += 1
        self._clear_result()
        self.reference_run = None
        self.comparison = None
        self.pairChanged.emit()

    def swap(self) -> None:
        self.images.reverse()
        self.pair_version += 1
        self._clear_result()
        self.reference_run = None
        self.comparison = None
        self.pairChanged.emit()

    @property
    def has_pair(self) -> bool:
        return self.images[0] is not None and self.images[1] is not None

    def paths(self) -> tuple[str | None, str | None]:
        return tuple(str(i.path) if i is not None and i.path else None for i in self.images)  # type: ignore[return-value]

    # --- result -------------------------------------------------------------------------------------------
    def _clear_result(self) -> None:
        had = self.result is not None
        self.result = None
        self.selected = self.hovered = -1
        self.geometry = None
        if had:
            self.resultChanged.emit()
            self.geometryChanged.emit()

    def set_result(self, result: MatchResult, pair_version: int) -> bool:
        """Accept a result only if it was computed for the pair shown now."""
        if pair_version != self.pair_version or not self.has_pair:
            return False
        if self.result is not None:
            self.reference_run = ABRun("previous run", self.result, self.threshold)
        self.result = result
        self.selected = self.hovered = -1
        self.geometry = None
        self.refresh_comparison()
        self.resultChanged.emit()
        self.selectionChanged.emit(-1)
        self.geometryChanged.emit()
        return True

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    # --- threshold and visible matches --------------------------------------------------------------------
    def set_threshold(self, value: float) -> None:
        value = float(min(max(value, 0.0), 1.0))
        if abs(value - self.threshold) < 1e-9:
            return
        self.threshold = value
        if self.selected >= 0 and not self.is_visible(self.selected):
            self.selected = -1
            self.selectionChanged.emit(-1)
        self.thresholdChanged.emit(value)  # the A/B comparison follows, debounced, via refresh_comparison()

    def visible_count(self) -> int:
        """Results are sorted by score, best first, so the visible matches are a prefix."""
        if self.result is None:
            return 0
        return int(np.count_nonzero(self.result.scores >= self.threshold))

    def is_visible(self, index: int) -> bool:
        return (
            self.result is not None
            and 0 <= index < len(self.result)
            and bool(self.result.scores[index] >= self.threshold)
        )

    # --- selection ----------------------------------------------------------------------------------------
    def select(self, index: int) -> None:
        if index >= 0 and not self.is_visible(index):
            index = -1
        if index != self.selected:
            self.selected = index
            self.selectionChanged.emit(index)

    def hover(self, index: int) -> None:
        if index != self.hovered:
            self.hovered = index
            self.hoverChanged.emit(index)

    def step_selection(self, delta: int) -> None:
        count = self.visible_count()
        if count == 0:
            return
        start = self.selected if self.selected >= 0 else (-1 if delta > 0 else count)
        self.select(int(min(max(start + delta, 0), count - 1)))

    # --- geometry -----------------------------------------------------------------------------------------
    def set_geometry(self, geometry: GeometryResult | None, at_threshold: float | None) -> None:
        self.geometry = geometry
        self.geometry_threshold = at_threshold
        self.geometryChanged.emit()

    def geometry_is_current(self) -> bool:
        return (
            self.geometry is not None
            and self.geometry_threshold is not None
            and abs(self.geometry_threshold - self.threshold) < 1e-9
            and len(self.geometry.inliers) == self.visible_count()
        )

    # --- A/B ----------------------------------------------------------------------------------------------
    def keep_as_reference(self, label: str = "kept run") -> None:
        if self.result is not None:
            self.reference_run = ABRun(label, self.result, self.threshold)
            self.refresh_comparison()

    def refresh_comparison(self) -> None:
        if self.reference_run is None or self.result is None:
            self.comparison = None
        else:
            a = self.reference_run.result.subset(self.reference_run.result.keep(self.reference_run.threshold))
            n = self.visible_count()
            b = self.result
            self.comparison = compare_runs(a.kpts0, a.kpts1, b.kpts0[:n], b.kpts1[:n])
        self.comparisonChanged.emit()
