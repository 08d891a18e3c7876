"""The track view as a user meets it: a real run (the rendered scene, SIFT, pycolmap) opened in the window, tracks
built in the background, a keypoint clicked, the strip of patches, stepping by conflict, a match clicked in the
inspector, the colours on screen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from gui.inspection.tracks import TrackInputs
from gui.views.track_patches import PATCH_PX, patch
from gui.views.track_view import LENGTH_BINS, LENGTH_COLOURS, TRIANGULATED_COLOURS
from tests.track_scene import SceneRun, write_scene_run

BUILD_MS = 60000


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory) -> SceneRun:
    return write_scene_run(tmp_path_factory.mktemp("scene"))


@pytest.fixture
def window(make_window, qtbot, scene_run):
    window = make_window()
    window.resize(1400, 900)
    assert window.matching_run.open_path(str(scene_run.run), str(scene_run.images))
    qtbot.waitUntil(lambda: window.tracks.built is not None, timeout=BUILD_MS)
    window.track_docks.dock.raise_()
    view = window.track_docks.view
    qtbot.waitUntil(lambda: view.image_item.image is not None, timeout=10000)
    return window


def _pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _widget_point(view, xy) -> tuple[int, int]:
    scene = view.plot.getViewBox().mapViewToScene(QPointF(float(xy[0]), float(xy[1])))
    point = view.plot.mapFromScene(scene)
    return int(round(point.x())), int(round(point.y()))


def test_tracks_build_in_the_background_and_say_so(window):
    state = window.tracks
    assert state.built_from == state.wanted and state.wanted.model is not None  # sparse/0 beside the database
    assert "tracks from" in window.track_docks.view.status.text() and "verified matches" in state.status
    assert state.built.triangulation is not None
    summary = window.track_docks.view.image_summary.text()
    nodes = state.built.tracks.nodes_in_image(state.image)
    assert f"{len(nodes):,} keypoints in tracks" in summary and "registered, " in summary


def test_clicking_a_keypoint_shows_its_track_strip_with_a_patch_from_every_image(window, qtbot, scene_run):
    state, view = window.tracks, window.track_docks.view
    built = state.built
    tracks, graph = built.tracks, built.tracks.graph
    image = state.image
    nodes = tracks.nodes_in_image(image)
    node = int(nodes[np.argmax(tracks.length[tracks.track[nodes]])])  # a keypoint of this image's longest track
    track = int(tracks.track[node])
    shown = []
    view.stripShown.connect(shown.append)
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=_point(view, graph.xy[node]))
    qtbot.waitUntil(lambda: shown == [track], timeout=10000)
    assert state.track == track
    members = tracks.nodes(track)
    cells = [view.strip_layout.itemAt(i).widget() for i in range(view.strip_layout.count() - 1)]
    assert len(cells) == len(members) >= tracks.length[track]  # every keypoint, a conflict's second one too
    # each patch is the picture around the keypoint in its own image file (the centre cross aside)
    for cell, member in zip(cells, members):
        name = window.browsing.run.images[int(graph.image[member])].name
        pixels = np.asarray(Image.open(scene_run.images / name).convert("RGB"))
        expected = patch(pixels, graph.xy[member])
        label = cell.layout().itemAt(0).widget()
        shown_patch = _pixels(label)
        top, left = (shown_patch.shape[0] - 2 * PATCH_PX) // 2, (shown_patch.shape[1] - 2 * PATCH_PX) // 2
        shown_patch = shown_patch[top : top + 2 * PATCH_PX : 2, left : left + 2 * PATCH_PX : 2]
        corner = (slice(4, 20), slice(4, 20))  # away from the cross and the conflict frame
        assert np.abs(shown_patch[corner].astype(int) - expected[corner].astype(int)).max() <= 1
    text = view.details.text()
    assert f"Track {track}" in text and f"{tracks.length[track]} images" in text
    assert "Pairs linking it" in text and "triangulated" in text


def _point(view, xy):
    from PySide6.QtCore import QPoint

    x, y = _widget_point(view, xy)
    return QPoint(x, y)


def test_keypoints_are_drawn_in_the_colour_of_their_track_length_then_of_the_model(window, qtbot):
    state, view = window.tracks, window.track_docks.view
    built = state.built
    tracks, graph = built.tracks, built.tracks.graph
    nodes = tracks.nodes_in_image(state.image)
    xy = graph.xy[nodes]
    # a keypoint with no other keypoint within 12 px, so its disc is not covered by another
    distance = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    np.fill_diagonal(distance, np.inf)
    alone = nodes[(distance.min(axis=1) > 12) & ~built.conflicts.extra[nodes]]
    node = int(alone[0])
    length = tracks.length[tracks.track[node]]
    expected = next(c for (low, high), c in zip(LENGTH_BINS, LENGTH_COLOURS) if low <= length <= high)
    x, y = _widget_point(view, graph.xy[node])

    def drawn(colour: tuple[int, int, int]) -> bool:  # the repaint follows the state within a few event-loop turns
        return bool(np.abs(_pixels(view.plot)[y, x].astype(int) - colour).max() <= 12)

    qtbot.waitUntil(lambda: drawn(expected), timeout=2000)
    view.colour_choice.setCurrentIndex(view.colour_choice.findData("triangulated"))
    assert state.colour_by == "triangulated"
    found = built.triangulation
    if found.point3d[node] >= 0:
        expected = TRIANGULATED_COLOURS["triangulated"]
    else:
        reachable = (found.point3d[tracks.nodes(tracks.track[node])] >= 0).any()
        expected = TRIANGULATED_COLOURS["reachable" if reachable else "not"]
    qtbot.waitUntil(lambda: drawn(expected), timeout=2000)


def test_stepping_by_conflict_walks_the_conflicting_tracks_worst_first(window, qtbot):
    state, view = window.tracks, window.track_docks.view
    conflicts = state.built.conflicts
    worst = conflicts.worst_tracks()
    assert len(worst), "the SIFT run of the scene has conflicting tracks"
    view.step_choice.setCurrentIndex(view.step_choice.findData("conflict"))
    qtbot.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    assert state.track == worst[0] and conflicts.track[state.track] == conflicts.track.max()
    assert "conflicting in" in view.details.text() and "a second keypoint of this image" in view.details.text()
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert state.track == (worst[1] if len(worst) > 1 else worst[0])
    qtbot.mouseClick(view.previous_button, Qt.MouseButton.LeftButton)
    assert state.track == worst[0]


def test_a_match_clicked_in_the_inspector_shows_its_track(window, qtbot):
    qtbot.waitUntil(lambda: window.matching_run.shown_pair() is not None and window.is_idle(), timeout=20000)
    window.controls.slider.setValue(0)
    pair = window.matching_run.shown_pair()
    result = window.model.result
    state = window.tracks
    run = window.browsing.run
    image0 = int(run.pairs.image0[pair])
    expected = state.track_near(image0, tuple(result.kpts0[3]), 1.0)
    assert expected >= 0
    window.click_match(3)
    qtbot.waitUntil(lambda: state.track == expected, timeout=5000)
    assert state.image == image0


def test_a_new_tolerance_rebuilds_and_a_stale_build_is_never_shown(window, qtbot):
    state, view = window.tracks, window.track_docks.view
    old = state.built
    stale_inputs = state.built_from
    view.conflict.setValue(50.0)  # keyboard tracking is off: the value counts once set
    assert state.built is None and state.wanted.conflict_px == 50.0
    assert "building tracks" in view.status.text()
    qtbot.waitUntil(lambda: state.built is not None, timeout=BUILD_MS)
    assert state.built.options.conflict_px == 50.0
    assert state.built.conflicts.track.sum() <= old.conflicts.track.sum()
    assert not state.offer(old, stale_inputs)  # made with 2 px: not what is wanted now
    assert state.built.options.conflict_px == 50.0


def test_closing_the_run_drops_the_tracks_and_a_bad_run_says_why(window, qtbot, tmp_path):
    state = window.tracks
    window.matching_run.close_run()
    assert state.built is None and state.wanted is None and not window.track_docks.dock.isVisible()
    missing = TrackInputs(tmp_path / "missing.db", None, None, 2.0)
    state.want(missing)
    qtbot.waitUntil(lambda: state.status.startswith("no tracks:"), timeout=BUILD_MS)
    assert "not found" in state.status and state.built is None


def test_the_pairs_matches_are_coloured_by_what_the_model_made_of_them(window, qtbot):
    qtbot.waitUntil(lambda: window.matching_run.shown_pair() is not None and window.is_idle(), timeout=20000)
    model = window.model
    qtbot.waitUntil(lambda: model.model_points_for(model.result_id) is not None, timeout=5000)
    pair = window.matching_run.shown_pair()
    controls = window.controls
    controls.color_mode.setCurrentIndex(controls.color_mode.findData("model"))
    assert model.display.color_mode == "model"
    colours = model.line_colors()
    assert colours.legend.title == "COLMAP model (tracks)"
    one_point = colours.index == 0
    verified = model.stored_inliers
    # the verified matches that became one 3D point are the pair's triangulated count in the report
    assert int(np.count_nonzero(one_point & verified)) == int(window.tracks.built.triangulation.pair[pair]) > 0
    assert not one_point.all()
    # another pair: its own colours, never the previous pair's
    other = next(p for p in range(len(window.browsing.run.pairs)) if p != pair)
    window.matching_run.browser.select_pair(other)
    qtbot.waitUntil(lambda: window.matching_run.shown_pair() == other and window.is_idle(), timeout=20000)
    qtbot.waitUntil(lambda: model.model_points_for(model.result_id) is not None, timeout=5000)
    assert model.line_colors().legend.title == "COLMAP model (tracks)"
    flags = model.model_points_for(model.result_id)
    assert int(np.count_nonzero(flags & model.stored_inliers)) == int(window.tracks.built.triangulation.pair[other])


def test_closing_the_run_while_its_tracks_build_ends_the_build(make_window, qtbot, scene_run):
    window = make_window()
    assert window.matching_run.open_path(str(scene_run.run), str(scene_run.images))
    builder = window.track_docks.builder
    qtbot.waitUntil(lambda: builder._process is not None, timeout=10000)  # the child is running
    process = builder._process
    window.matching_run.close_run()
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=5000)
    assert process.returncode < 0, "killed, not left to finish"
    qtbot.wait(300)
    assert window.tracks.built is None and window.tracks.wanted is None and window.tracks.status == ""
