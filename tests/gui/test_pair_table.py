"""The pair browser's Qt-free model: sorting, filtering, quick checks with pose against a reference, the matrix."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from core.runs.base import UNKNOWN
from core.runs.open import open_run
from core.runs.quick_check import check_pair, check_pairs, describe
from core.runs.reference_poses import find_model_beside, load_reference_poses
from gui.pair_table import COLUMN_KEYS, PairTable
from tests.scene_run import UNRELATED, write_scene_run

pytest.importorskip("pycolmap")


@pytest.fixture
def scene(tmp_path):
    database = write_scene_run(tmp_path, count=4)
    run = open_run(database)
    reference = load_reference_poses(find_model_beside(database))
    yield PairTable(run, reference)
    run.close()


def _index(table, a, b):
    index = table.pair_at(a, b)
    assert index is not None
    return index


def test_rows_sort_and_filter(scene):
    table = scene
    assert len(table) == 6 and list(table.order) == list(range(6))
    events = []
    table.rows_changed.connect(lambda: events.append("rows"))
    table.sort("matches")
    junk = _index(table, *UNRELATED)
    assert table.order[0] == junk, "the 20-match pair sorts first"
    table.sort("matches", descending=True)
    assert table.order[-1] == junk
    table.set_filter(fewer_inliers_than=30)
    assert list(table.order) == [junk], "unknown inliers but fewer raw matches than 30"
    table.set_filter(name_contains="VIEW1")
    assert len(table.order) == 3 and all("view1" in table.labels[i] for i in table.order)
    assert events.count("rows") == 4
    assert table.position_of(junk) is None, "hidden by the name filter"


def test_quick_checks_fill_the_columns_and_pose_auc(scene):
    table = scene
    check_pairs(
        table.run, table.order, lambda i, outcome: table.set_check(i, outcome, refresh=False), reference=table.reference
    )
    table.refresh()
    junk, good = _index(table, *UNRELATED), _index(table, 0, 1)
    assert table.display(junk, "overlap") == "no overlap found"
    assert table.display(good, "overlap") == "overlap"
    assert int(table.check_inliers[good]) == 300
    assert table.pose_error[good] < 0.5, "pose against the model's reference pose"
    assert abs(table.rotation[good] - 4.0) < 0.5
    aucs = table.pose_auc()
    assert aucs is not None and len(aucs) == 3
    # 5 real pairs with near-zero error and one junk pair (infinite error): recall 5/6 at every threshold.
    assert aucs[2] == pytest.approx(5 / 6, abs=0.02)
    table.set_filter(fewer_inliers_than=100)
    assert list(table.order) == [junk], "our check's inliers now count for the filter"
    for key in COLUMN_KEYS:
        table.sort(key, descending=True)
        assert sorted(table.order.tolist()) == [junk]
        assert isinstance(table.display(junk, key), str)
    lines = describe(table.run.read_pair(good), table.check(good))
    assert any("rotation 4.0" in line for line in lines) and any("pose error" in line for line in lines)
    assert "intrinsics: COLMAP camera 1 (SIMPLE_PINHOLE); COLMAP camera 2 (SIMPLE_PINHOLE)" in lines


def test_check_pairs_stops_when_cancelled(scene):
    table = scene
    stop = threading.Event()
    seen = []

    def on_result(index, outcome):
        seen.append(index)
        stop.set()

    check_pairs(table.run, range(6), on_result, cancelled=stop.is_set)
    assert seen == [0]


def test_cells_name_their_pair_in_either_order_and_unknown_values_stay_unknown(scene):
    table = scene
    a, b = UNRELATED
    junk = table.pair_at(a, b)
    assert junk is not None and table.pair_at(b, a) == junk and table.pair_at(2, 2) is None
    assert table.sort_values("matches")[junk] == 20
    assert np.isnan(table.sort_values("inliers")).all(), "nothing verified yet: unknown, not zero"


def test_stored_inliers_take_precedence(scene):
    table = scene
    good = _index(table, 0, 1)
    assert table.inliers[good] == UNKNOWN
    check = check_pair(table.run.read_pair(good), table.reference)
    table.set_check(good, check)
    assert table.inliers[good] == check.inliers


def test_a_pair_whose_check_fails_is_reported_and_the_rest_go_on(scene, monkeypatch):
    import core.runs.quick_check

    real = core.runs.quick_check.check_pair

    def flaky(pair, reference=None):
        if pair.index == 2:
            raise FloatingPointError("boom")
        return real(pair, reference)

    monkeypatch.setattr(core.runs.quick_check, "check_pair", flaky)
    outcomes = {}
    check_pairs(scene.run, range(6), outcomes.__setitem__)
    assert sorted(outcomes) == list(range(6))
    assert outcomes[2] == "check failed (FloatingPointError: boom)"
    scene.set_check(2, outcomes[2])
    assert scene.display(2, "check") == "error" and "boom" in scene.check_messages[2]
