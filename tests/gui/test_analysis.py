"""Geometry, colour modes, overlay and A/B comparison in the window (fake matcher: a pure shift plus noise)."""

from __future__ import annotations

import numpy as np

from tests.gui.conftest import wait_idle
from tests.gui.fakes import FakeMatcher


def _matched(make_window, qtbot, image_files, count=400, geometry="H"):
    window = make_window(FakeMatcher(count=count))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData(geometry))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    qtbot.waitUntil(window.state.geometry_is_current, timeout=10000)
    return window


def test_colour_modes_switch_buckets_and_legend(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    geometry = window.state.geometry
    assert geometry.ok and geometry.model == "H"
    assert "inliers of" in window.controls.geometry_label.text()
    combo = window.controls.color_mode
    combo.setCurrentIndex(combo.findData("inlier"))
    assert window.view.color_mode == "inlier" and window.controls.legend.mode == "inlier"
    assert len(window.view.buckets) <= 2
    assert window.view.drawn_line_count() == window.state.visible_count()
    combo.setCurrentIndex(combo.findData("residual"))
    assert window.controls.legend.mode == "residual" and 1 <= len(window.view.buckets) <= 12
    assert window.view.drawn_line_count() == window.state.visible_count()
    combo.setCurrentIndex(combo.findData("confidence"))
    assert window.view.drawn_line_count() == window.state.visible_count()


def test_geometry_follows_the_threshold(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    before = len(window.state.geometry.inliers)
    window.controls.spin.setValue(0.6)
    qtbot.waitUntil(window.state.geometry_is_current, timeout=10000)
    assert len(window.state.geometry.inliers) == window.state.visible_count() < before


def test_selected_match_shows_its_epipolar_line_for_f(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files, geometry="F")
    assert window.state.geometry.ok, window.state.geometry.status
    window.state.select(0)
    xs, ys = window.view.epipolar_item.getData()
    assert xs is not None and len(xs) == 2
    # The line lies in image 1 (right of image 0) and passes near the matched point there.
    offset = window.view.image_offset()
    assert xs.min() >= offset[0] - 1
    k1 = window.state.result.kpts1[0] + 0.5 + offset
    direction = np.array([xs[1] - xs[0], ys[1] - ys[0]])
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    assert abs(float((k1 - np.array([xs[0], ys[0]])) @ normal)) < 3.0
    assert "Sampson" in window.inspector.fields["residual"].text()


def test_homography_projection_and_overlay(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files, geometry="H")
    window.state.select(0)
    assert len(window.view.projection_item.data) == 1
    window.controls.overlay.setChecked(True)
    assert window.view.overlay_item.isVisible()
    assert window.view.drawn_line_count() == 0, "lines would hide the alignment"
    assert window.view.overlay_item.image.shape[:2] == window.state.images[0].size
    window.controls.overlay_checker.setChecked(True)
    assert window.view.overlay_item.opacity() == 1.0
    window.controls.overlay.setChecked(False)
    assert not window.view.overlay_item.isVisible()
    assert window.view.drawn_line_count() == window.state.visible_count()


def test_a_b_counts_between_two_runs(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=300)
    window = make_window(matcher)
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    window.controls.spin.setValue(0.0)
    window.state.keep_as_reference("A")
    first = window.state.result
    window.run_matching()  # the fake draws new random matches on each call: few shared
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.state.comparison is not None, timeout=5000)
    comparison = window.state.comparison
    assert comparison.shared + comparison.gained == window.state.visible_count()
    assert int(comparison.shared_a.sum()) + comparison.lost == len(first)
    assert "shared" in window.controls.compare_label.text()
    # Colour by comparison: B's lines in two groups, A's lost matches drawn as well.
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("compare"))
    sizes = sorted(len(b.indices) for b in window.view.buckets)
    assert sizes == sorted(n for n in (comparison.shared, comparison.gained) if n)
    assert window.view.lost_line_count() == comparison.lost
    assert window.controls.legend.mode == "compare"
    # Raising the threshold in B turns shared matches into lost ones.
    window.controls.spin.setValue(0.5)
    qtbot.waitUntil(
        lambda: window.state.comparison.shared + window.state.comparison.gained == window.state.visible_count(),
        timeout=5000,
    )


def test_histogram_marker_moves_the_threshold(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    window.histogram.marker.setValue(0.7)
    assert abs(window.state.threshold - 0.7) < 1e-9
    assert window.controls.slider.value() == 700
    window.controls.slider.setValue(100)
    assert abs(window.histogram.marker.value() - 0.1) < 1e-9


def test_heatmap_and_markers_toggle(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    window.controls.heatmap.setChecked(True)
    assert all(item.isVisible() for item in window.view.heat_items)
    window.controls.markers.setChecked(True)
    assert len(window.view.marker_item.data) == 2 * window.state.visible_count()
    window.controls.layout_mode.setCurrentIndex(1)
    assert window.view.layout_mode == "stacked" and window.view.image_offset()[0] == 0
