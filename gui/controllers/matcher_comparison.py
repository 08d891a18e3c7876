"""Compare matchers on the pair: the ticked matchers run one after another on the window's matcher worker (the same
child process as every run), each run lands in the model's MatcherComparison, and the table of figures is computed
off the GUI thread for the threshold and geometry options on screen, again whenever they change.

A run the user starts meanwhile (Match, a new pair) takes the worker: the comparison stops there and keeps what
finished. Any two finished runs can be shown as the window's A/B comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from PySide6.QtCore import QObject, QTimer

from core.analysis.matcher_table import PoseReference, TableInputs, matching_seconds
from core.matchers.registry import matcher_spec, matcher_specs
from core.types import Matcher, MatchOptions, MatchResult

from ..inspection import InspectionModel, MatcherRun, MatcherTable
from ..inspection.matcher_comparison import compute_table
from ..jobs import LatestJobRunner
from ..worker import MatchWorker
from .feedback import Feedback

TABLE_DELAY_MS = 150  # the slider moves many times a second: recompute once it pauses


@dataclass(frozen=True)
class _Request:
    request_id: int
    name: str
    label: str
    started: float
    pair_version: int
    options: MatchOptions


class MatcherComparisonController(QObject):
    def __init__(
        self,
        model: InspectionModel,
        worker: MatchWorker,
        feedback: Feedback,
        pose_source: Callable[[], PoseReference | None] = lambda: None,
    ) -> None:
        """`pose_source`: the pair's cameras and true relative pose where they are known (a browsed run)."""
        super().__init__()
        self.model = model
        self.state = model.matchers
        self.worker = worker
        self.feedback = feedback
        self.pose_source = pose_source
        self.request: _Request | None = None  # the matcher running now
        # When the running matcher first reported progress: match_pair has begun in the matcher process, so its time
        # leaves out starting that process and importing torch (a first run's cost, not the matcher's).
        self._began: float | None = None
        self.tables = LatestJobRunner("matcher-table")
        self.tables.finished.connect(self._table_done)
        self.tables.failed.connect(self._table_failed)
        self._submitted: tuple[TableInputs, tuple[MatcherRun, ...]] | None = None  # the table on its way
        self.timer = QTimer(self, singleShot=True, interval=TABLE_DELAY_MS)
        self.timer.timeout.connect(self.update_table)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(self._cancelled)
        worker.progress.connect(self._progress)
        self.state.runs_changed.connect(self.update_table)
        model.threshold_changed.connect(lambda *_: self.timer.start())
        model.geometry_options_changed.connect(self.update_table)
        model.pair_changed.connect(self._pair_changed)

    @property
    def busy(self) -> bool:
        return self.request is not None or self.timer.isActive() or self._submitted is not None

    # --- running ------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Run every ticked matcher on the pair; those that cannot run here get their reason at once."""
        model, state = self.model, self.state
        if not model.has_pair:
            self.feedback.error("Load two images first (drop them here or File ▸ Open pair…).")
            return
        names = state.choice.matchers
        if not names:
            self.feedback.error("Tick at least one matcher to compare.")
            return
        specs = {spec.name: spec for spec in matcher_specs()}
        state.start(names, model.pair_version, self.pose_source())
        for name in names:
            spec = specs.get(name)
            if spec is None or not spec.available:
                reason = spec.reason if spec is not None else "not a matcher this version knows"
                label = spec.label if spec is not None else name
                state.add_run(MatcherRun(name, label, None, None, f"unavailable: {reason}"), model.pair_version)
        self._next()

    def cancel(self) -> None:
        if self.request is not None:
            self.worker.cancel()

    def _next(self) -> None:
        state, model = self.state, self.model
        name = state.running
        if name is None or state.pair_version != model.pair_version:
            self.request = None
            return
        options = replace(model.match_options, matcher=cast(Matcher, name))
        request_id = self.worker.new_request_id()
        label = matcher_spec(name).label
        self.request = _Request(request_id, name, label, time.perf_counter(), state.pair_version, options)
        self._began = None
        self.feedback.status(f"Comparing matchers: running {label}…", 0)
        image0, image1 = model.images
        self.worker.submit(request_id, image0, image1, options)

    def _ours(self, request_id: int) -> _Request | None:
        request = self.request
        return request if request is not None and request.request_id == request_id else None

    def _progress(self, request_id: int, stage: str, fraction: float) -> None:
        request = self._ours(request_id)
        if request is not None:
            if self._began is None:
                self._began = time.perf_counter()
            self.feedback.status(f"Comparing matchers: {request.label}, {stage} ({fraction:.0%})…", 0)

    def _finished(self, request_id: int, result: MatchResult) -> None:
        request = self._ours(request_id)
        if request is None:
            return
        began = self._began if self._began is not None else request.started
        seconds = matching_seconds(time.perf_counter() - began, result)
        run = MatcherRun(request.name, request.label, result, seconds, "", request.options)
        self.state.add_run(run, request.pair_version)
        self._next()
        if self.request is None:
            self.feedback.status(
                f"Compared {len(self.state.runs)} matchers; the last one ran was {request.label}.", 8000
            )

    def _failed(self, request_id: int, message: str) -> None:
        request = self._ours(request_id)
        if request is None:
            return
        self.state.add_run(
            MatcherRun(request.name, request.label, None, None, f"failed: {message}"), request.pair_version
        )
        self._next()

    def _cancelled(self, request_id: int, _: str) -> None:
        request = self._ours(request_id)
        if request is None:
            return
        self.request = None
        self.state.stop()
        self.feedback.status(f"Matcher comparison stopped before {request.label} finished.", 8000)

    def _pair_changed(self) -> None:
        if self.request is not None:
            self.request = None  # the worker drops it: Match on the new pair takes its place, or cancel here
            self.worker.cancel()
        self.tables.cancel()
        self._submitted = None

    # --- the table ----------------------------------------------------------------------------------------
    def current_inputs(self) -> TableInputs:
        return self.state.inputs(self.model.threshold, self.model.geometry_options)

    def update_table(self, *_: Any) -> None:
        """Compute the table the settings on screen need, unless it is held or on its way already."""
        self.timer.stop()
        state = self.state
        runs = state.held_runs()
        inputs = self.current_inputs()
        if not runs:
            self.tables.cancel()
            self._submitted = None
            return
        if state.current_table(inputs) is not None:
            return
        submitted = self._submitted
        if submitted is not None and submitted[0].same_as(inputs) and submitted[1] == runs:
            return
        self._submitted = (inputs, runs)
        self.tables.submit(compute_table, runs, inputs)

    def _table_done(self, _: int, table: MatcherTable) -> None:
        self._submitted = None
        self.state.set_table(table)
        self.update_table()  # the settings may have moved on while it was computed

    def _table_failed(self, _: int, message: str) -> None:
        self._submitted = None
        self.feedback.status(f"Matcher table failed: {message}", 8000)

    # --- A/B ----------------------------------------------------------------------------------------------
    def show_ab(self, name_a: str, name_b: str) -> bool:
        """Show matcher B's result with matcher A's as run A: shared / gained / lost, click a match to see who
        found it."""
        runs = self.state.results()
        if name_a not in runs or name_b not in runs or name_a == name_b:
            self.feedback.error("Choose two different matchers that ran on this pair.")
            return False
        a, b = runs[name_a], runs[name_b]
        assert a.result is not None and b.result is not None
        shown = self.model.show_ab(a.label, a.result, b.result, self.state.pair_version, b.options or MatchOptions())
        if shown:
            self.feedback.status(f"A = {a.label}, B = {b.label}: lines coloured shared / gained / lost", 8000)
        return shown

    def shutdown(self) -> None:
        self.timer.stop()
        self.tables.shutdown()
