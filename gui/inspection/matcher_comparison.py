"""Several matchers on the pair, Qt-free: which ones the user ticked, the run of each on the current pair, and the
table of figures computed from those runs (core.analysis.matcher_table) with the inputs it was computed with.

The table is a derived result: it is current only while its inputs (threshold, geometry options, pose reference)
equal those on screen and its runs are the runs held now; otherwise views show it as stale while the new one is
computed.

Events: `choice.events.matchers` (the ticked matchers), `runs_changed` (a run landed, the runs were cleared, or
which matcher runs now changed), `table_changed` (a new table landed or the held one was dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from psygnal import Signal, SignalGroupDescriptor

from core.analysis.geometry import GeometryOptions
from core.analysis.matcher_table import MatcherRow, PoseReference, TableInputs, matcher_row, missing_row
from core.matchers.registry import matcher_specs
from core.types import MatchOptions, MatchResult


def _available_matchers() -> tuple[str, ...]:
    return tuple(spec.name for spec in matcher_specs() if spec.available)


@dataclass
class CompareChoice:
    """The matchers ticked for the next comparison (every one that can run here, until the user says otherwise)."""

    matchers: tuple[str, ...] = field(default_factory=_available_matchers)

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    def tick(self, name: str, on: bool) -> None:
        names = [n for n in self.matchers if n != name]
        if on:
            names.append(name)
        order = [spec.name for spec in matcher_specs()]
        self.matchers = tuple(sorted(names, key=lambda n: order.index(n) if n in order else len(order)))


@dataclass(frozen=True, eq=False)
class MatcherRun:
    """One matcher's run on the pair: its result and time, or why there is none."""

    name: str
    label: str
    result: MatchResult | None
    seconds: float | None
    reason: str  # why there is no result ("" when there is one)
    options: MatchOptions | None = None  # what it ran with


@dataclass(frozen=True, eq=False)
class MatcherTable:
    rows: tuple[MatcherRow, ...]
    inputs: TableInputs
    runs: tuple[MatcherRun, ...]  # the runs it was computed from (by identity)

    def made_from(self, inputs: TableInputs, runs: tuple[MatcherRun, ...]) -> bool:
        return (
            self.inputs.same_as(inputs) and len(runs) == len(self.runs) and all(a is b for a, b in zip(runs, self.runs))
        )


def compute_table(runs: tuple[MatcherRun, ...], inputs: TableInputs) -> MatcherTable:
    """The figures of every run under `inputs` (run off the GUI thread: a geometry fit per matcher)."""
    rows = tuple(
        matcher_row(run.name, run.label, run.result, run.seconds or 0.0, inputs)
        if run.result is not None
        else missing_row(run.name, run.label, run.reason)
        for run in runs
    )
    return MatcherTable(rows, inputs, runs)


class MatcherComparison:
    runs_changed = Signal()
    table_changed = Signal()

    def __init__(self) -> None:
        self.choice = CompareChoice()
        self.runs: dict[str, MatcherRun] = {}  # by matcher name
        self.order: tuple[str, ...] = ()  # the matchers of the comparison, in the order the table lists them
        self.pair_version = -1  # the pair the runs were made on
        self.waiting: tuple[str, ...] = ()  # matchers of the comparison under way that have not finished yet
        self.table: MatcherTable | None = None
        self.pose: PoseReference | None = None  # cameras and true pose of the pair, when a browsed run knows them

    # --- runs ---------------------------------------------------------------------------------------------
    def start(self, names: tuple[str, ...], pair_version: int, pose: PoseReference | None) -> None:
        """A new comparison on the pair `pair_version`: the old runs go."""
        self.runs = {}
        self.order = names
        self.pair_version = pair_version
        self.waiting = names
        self.pose = pose
        self.table = None
        self.runs_changed.emit()
        self.table_changed.emit()

    def add_run(self, run: MatcherRun, pair_version: int) -> bool:
        """A run lands only on the pair it was made for."""
        if pair_version != self.pair_version:
            return False
        self.runs[run.name] = run
        self.waiting = tuple(name for name in self.waiting if name != run.name)
        self.runs_changed.emit()
        return True

    def stop(self) -> None:
        """Nothing more will land: the matchers still waiting are dropped."""
        if self.waiting:
            self.waiting = ()
            self.runs_changed.emit()

    def clear(self) -> None:
        """The pair changed: runs, table and pose reference belong to the old one."""
        self.runs, self.order, self.waiting, self.table, self.pose = {}, (), (), None, None
        self.pair_version = -1
        self.runs_changed.emit()
        self.table_changed.emit()

    @property
    def running(self) -> str | None:
        return self.waiting[0] if self.waiting else None

    def held_runs(self) -> tuple[MatcherRun, ...]:
        """The finished runs, in the order of the comparison."""
        return tuple(self.runs[name] for name in self.order if name in self.runs)

    def results(self) -> dict[str, MatcherRun]:
        """The runs with a result, by matcher name, in the order of the comparison."""
        return {run.name: run for run in self.held_runs() if run.result is not None}

    # --- table --------------------------------------------------------------------------------------------
    def inputs(self, threshold: float, geometry: GeometryOptions) -> TableInputs:
        """The inputs a table must have been computed with to be current."""
        return TableInputs(threshold, geometry, self.pose)

    def set_table(self, table: MatcherTable) -> bool:
        """A table lands only if it was computed from the runs held now."""
        runs = self.held_runs()
        if len(runs) != len(table.runs) or any(a is not b for a, b in zip(runs, table.runs)):
            return False
        self.table = table
        self.table_changed.emit()
        return True

    def current_table(self, inputs: TableInputs) -> MatcherTable | None:
        """The table while it was computed with `inputs` from the runs held now; else None."""
        table = self.table
        return table if table is not None and table.made_from(inputs, self.held_runs()) else None
