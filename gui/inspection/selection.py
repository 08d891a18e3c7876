"""What the user singled out, Qt-free: the selected and hovered match, the box on one image, and the selected
match's ambiguity map.

Indices refer to the result on screen (owned by InspectionModel), which also decides what is visible: its facade
methods refuse a hidden match and drop a selection the threshold or box hides.

Events: `selection_changed(index)` and `hover_changed(index)` (-1 for none), `region_changed`, `ambiguity_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from core.analysis.ambiguity import AmbiguityMap


@dataclass(frozen=True)
class Region:
    """A box on one image, in its pixels: only matches with that endpoint inside it are visible."""

    side: int
    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def spanning(cls, side: int, a: tuple[float, float], b: tuple[float, float]) -> Region:
        return cls(side, min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1]))

    def contains(self, points: np.ndarray) -> np.ndarray:
        x, y = points[:, 0], points[:, 1]
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


class SelectionState:
    selection_changed = Signal(int)  # match index, -1 for none
    hover_changed = Signal(int)
    region_changed = Signal()
    ambiguity_changed = Signal()

    def __init__(self) -> None:
        self.selected = -1
        self.hovered = -1
        self.region: Region | None = None
        self.ambiguity: AmbiguityMap | None = None  # of the selected match, when the view is on
        self.ambiguity_for: tuple[int, int] | None = None  # (result id, match) it was computed for

    def select(self, index: int) -> None:
        if index != self.selected:
            self.selected = index
            self.selection_changed.emit(index)
            self.clear_ambiguity()

    def hover(self, index: int) -> None:
        if index != self.hovered:
            self.hovered = index
            self.hover_changed.emit(index)

    def forget(self) -> None:
        """No selected or hovered match (a new result: the old indices mean nothing); the caller announces it."""
        self.selected = self.hovered = -1
        self.clear_ambiguity()

    def set_ambiguity(self, key: tuple[int, int], ambiguity: AmbiguityMap) -> None:
        self.ambiguity, self.ambiguity_for = ambiguity, key
        self.ambiguity_changed.emit()

    def clear_ambiguity(self) -> None:
        if self.ambiguity is not None:
            self.ambiguity = self.ambiguity_for = None
            self.ambiguity_changed.emit()
