"""TrackState, Qt-free: a build is shown only while made from the wanted inputs; stepping and picking."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.runs.open import open_run
from core.tracks.build import build_tracks
from core.tracks.options import TrackOptions
from gui.inspection.tracks import TrackInputs, TrackState
from tests.core.test_tracks import _points, _write_database


def _built(tmp_path: Path, conflict_px: float = 2.0):
    """Tracks: A0-B0-C0-D0 (+ a stray D1 linked by A-D: conflicting), A1-B1 (length 2), C1-D2 (length 2)."""
    keypoints = {
        "A": _points((10, 10), (50, 50)),
        "B": _points((12, 11), (52, 49)),
        "C": _points((14, 12), (80, 80)),
        "D": _points((16, 13), (66, 13), (82, 81)),
    }
    matches = {
        ("A", "B"): [(0, 0), (1, 1)],
        ("A", "C"): [(0, 0)],
        ("B", "C"): [(0, 0)],
        ("C", "D"): [(0, 0), (1, 2)],
        ("B", "D"): [(0, 0)],
        ("A", "D"): [(0, 1)],
    }
    database = _write_database(tmp_path / "database.db", keypoints, matches)
    with open_run(database) as run:
        return build_tracks(run, TrackOptions(conflict_px=conflict_px)), TrackInputs(database, None, None, conflict_px)


def test_a_build_is_shown_only_for_the_wanted_inputs(tmp_path):
    built, inputs = _built(tmp_path)
    state = TrackState()
    seen = []
    state.built_changed.connect(lambda: seen.append(state.built is not None))
    assert not state.offer(built, inputs)  # nothing wanted yet
    state.want(inputs)
    assert state.status == "building tracks…"
    assert state.offer(built, inputs) and state.built is built and seen == [True]
    assert "3 tracks from 8 raw matches, 1 conflicting" in state.status
    state.set_conflict_px(5.0)  # another tolerance: the build on screen is stale
    assert state.built is None and state.wanted == TrackInputs(inputs.run, None, None, 5.0) and seen == [True, False]
    assert not state.offer(built, inputs)
    state.want(None)
    assert state.status == "" and state.wanted is None


def test_stepping_by_length_and_by_conflict_and_picking_a_keypoint(tmp_path):
    built, inputs = _built(tmp_path)
    state = TrackState()
    state.want(inputs)
    state.offer(built, inputs)
    tracks, graph = built.tracks, built.tracks.graph
    longest = int(np.argmax(tracks.length))
    state.step(1)
    assert state.track == longest and tracks.length[state.track] == 4
    state.step(1)
    assert tracks.length[state.track] == 2
    state.step(-1)
    assert state.track == longest
    state.set_step_by("conflict")
    state.select_track(-1)
    state.step(1)
    assert state.track == longest and built.conflicts.track[longest] == 1
    state.step(1)
    assert state.track == longest  # the only conflicting track: stepping stays on it
    d = 3  # image D
    state.show_image(d)
    assert state.track_near(d, (82.0, 84.0)) == int(
        tracks.track[np.flatnonzero((graph.image == d) & (graph.keypoint == 2))[0]]
    )
    assert state.track_near(d, (82.0, 95.0)) == -1  # 14 px away: nothing picked
