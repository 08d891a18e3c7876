"""The A/B comparison's state, Qt-free: run A, how its threshold is chosen, and its counterparts in run B.

Run B is the result on screen (owned by InspectionModel); what this state needs of B (its result id, threshold, box
and visible matches) is passed in by the model's facade methods, so nothing here keeps a copy of B.

Events: `run_a_changed` when run A or its threshold rule changes, `comparison_changed` when what the comparison
shows may have changed (new counterparts, or a new A).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from psygnal import Signal

from core.analysis.compare import Comparison, Counterparts, classify
from core.types import MatchResult


@dataclass(frozen=True)
class RunA:
    """The run B is compared with; it keeps its own threshold."""

    label: str
    result: MatchResult
    threshold: float
    result_id: int
    kept: bool = False  # chosen by the user: new runs compare with it instead of replacing it


class ComparisonState:
    run_a_changed = Signal()
    comparison_changed = Signal()

    def __init__(self) -> None:
        self.run_a: RunA | None = None
        self.a_follows_b = False  # apply B's threshold to A
        self.counterparts: Counterparts | None = None
        self._counterparts_for: tuple[int, int] | None = None  # (A's id, B's id) they were found for
        self._comparison: tuple[tuple[Any, ...], Comparison] | None = None

    def set_run_a(self, run_a: RunA | None) -> None:
        self.run_a = run_a
        self.run_a_changed.emit()
        self.comparison_changed.emit()

    def set_a_threshold(self, value: float) -> None:
        if self.run_a is not None and abs(value - self.run_a.threshold) > 1e-12:
            self.run_a = replace(self.run_a, threshold=float(value))
            self.run_a_changed.emit()
            self.comparison_changed.emit()

    def set_a_follows_b(self, follows: bool) -> None:
        if follows != self.a_follows_b:
            self.a_follows_b = follows
            self.run_a_changed.emit()
            self.comparison_changed.emit()

    def a_threshold(self, b_threshold: float) -> float | None:
        if self.run_a is None:
            return None
        return b_threshold if self.a_follows_b else self.run_a.threshold

    def key(self, b_result_id: int | None) -> tuple[int, int] | None:
        """(A's id, B's id) of the comparison needed with B `b_result_id`, or None without both runs."""
        if self.run_a is None or b_result_id is None:
            return None
        return self.run_a.result_id, b_result_id

    def set_counterparts(self, key: tuple[int, int] | None, counterparts: Counterparts | None) -> None:
        self._counterparts_for = key
        self.counterparts = counterparts

    def comparison(
        self, key: tuple[int, int] | None, b_threshold: float, region: Any, b_visible: Callable[[], np.ndarray]
    ) -> Comparison | None:
        """Shared / gained / lost between A (at its threshold) and B's visible matches; None until the counterparts
        for `key` are computed. `region` is B's box (part of what B's visible matches depend on)."""
        if key is None or self._counterparts_for != key or self.counterparts is None or self.run_a is None:
            return None
        a_threshold = self.a_threshold(b_threshold)
        # Asked by several views per event: classified once per state of both runs.
        state = (id(self.counterparts), a_threshold, b_threshold, region)
        if self._comparison is None or self._comparison[0] != state:
            kept_a = self.run_a.result.scores >= (a_threshold if a_threshold is not None else -np.inf)
            self._comparison = (state, classify(self.counterparts, kept_a, b_visible()))
        return self._comparison[1]
