"""The Compare matchers state without Qt: which runs land, the order they are listed in, when a table is current."""

from __future__ import annotations

import numpy as np

from core.analysis.geometry import GeometryOptions
from core.types import MatchResult, RunInfo
from gui.inspection import CompareChoice, MatcherComparison, MatcherRun
from gui.inspection.matcher_comparison import MatcherTable, compute_table


def _run(name: str, count: int = 30) -> MatcherRun:
    rng = np.random.default_rng(count)
    kpts0 = rng.uniform(0, 200, (count, 2)).astype(np.float32)
    info = RunInfo(name, "none", "cpu", "fp32", ((240, 320), (240, 320)), 0.0)
    scores = np.linspace(1.0, 0.0, count).astype(np.float32)
    return MatcherRun(name, name.upper(), MatchResult(kpts0, kpts0 + 5, scores, ((240, 320),) * 2, info), 0.5, "")


def test_runs_land_on_their_pair_only_and_are_listed_in_the_order_asked():
    state = MatcherComparison()
    events = []
    state.runs_changed.connect(lambda: events.append("runs"))
    state.start(("xfeat", "sift"), pair_version=3, pose=None)
    assert state.running == "xfeat"
    assert not state.add_run(_run("sift"), pair_version=2)  # made for another pair
    assert state.add_run(_run("sift"), pair_version=3)
    assert state.add_run(_run("xfeat"), pair_version=3)
    assert [run.name for run in state.held_runs()] == ["xfeat", "sift"] and list(state.results()) == ["xfeat", "sift"]
    assert state.running is None and events.count("runs") == 3
    state.clear()
    assert state.held_runs() == () and state.table is None


def test_a_table_is_current_only_for_its_inputs_and_runs():
    state = MatcherComparison()
    state.start(("xfeat",), 1, None)
    state.add_run(_run("xfeat"), 1)
    inputs = state.inputs(0.5, GeometryOptions(model="H"))
    table = compute_table(state.held_runs(), inputs)
    assert table.rows[0].matches == 15  # scores 1.0 ... 0.0 in 30 steps: 15 reach 0.5
    assert state.set_table(table) and state.current_table(inputs) is table
    assert state.current_table(state.inputs(0.6, GeometryOptions(model="H"))) is None  # another threshold
    assert state.current_table(state.inputs(0.5, GeometryOptions(model="F"))) is None  # other geometry
    state.add_run(_run("xfeat", 40), 1)  # a new run of the same matcher
    assert state.current_table(inputs) is None
    stale = MatcherTable(table.rows, inputs, table.runs)
    assert not state.set_table(stale), "a table of runs no longer held is refused"


def test_ticking_keeps_the_registry_order():
    choice = CompareChoice(matchers=())
    choice.tick("sift", True)
    choice.tick("xfeat", True)
    assert choice.matchers == ("xfeat", "sift")
    choice.tick("xfeat", False)
    assert choice.matchers == ("sift",)
