"""Geometry, colour modes, overlay and A/B comparison in the window (fake matcher: a pure shift plus noise)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher


def _matched(make_window, qtbot, image_files, count=400, geometry="H", matcher=None):
    window = make_window(matcher or FakeMatcher(count=count))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData(geometry))
    load(qtbot, window, image_files[0], image_files[1])
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    return window


def test_colour_modes_and_legend(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    fit = window.model.current_fit()
    assert fit.geometry.ok and fit.geometry.model == "H"
    assert "inliers of" in window.controls.geometry_label.text()
    combo = window.controls.color_mode
    combo.setCurrentIndex(combo.findData("inlier"))
    assert window.model.display.color_mode == "inlier"
    assert window.controls.legend.spec.labels == ("inlier", "outlier")
    colours = window.model.line_colors()
    np.testing.assert_array_equal(colours.index == 0, fit.geometry.inliers)
    combo.setCurrentIndex(combo.findData("residual"))
    assert window.controls.legend.spec.title == "residual"
    assert window.view.drawn_line_count() == window.model.visible_count()


def test_geometry_follows_the_threshold_and_lands_only_on_its_result(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    before = window.model.current_fit()
    window.controls.spin.setValue(0.6)
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    fit = window.model.current_fit()
    assert fit is not before and fit.fitted_on == window.model.visible_count() < before.fitted_on
    assert not window.model.set_geometry_fit(before.__class__(before.result_id - 1, 0.6, 1, fit.options, fit.geometry))


def test_fit_on_tiny_support_is_unreliable_not_a_success(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files, count=400, geometry="H")
    window.model.set_threshold(float(window.model.result.scores[5]))  # 6 matches left
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    assert window.model.visible_count() == 6
    label = window.controls.geometry_label.text()
    assert "unreliable" in label or "no model" in label, label
    combo = window.controls.color_mode
    combo.setCurrentIndex(combo.findData("inlier"))
    assert window.controls.legend.title() in ("geometry (unreliable)", "geometry (no model)")


def test_selected_match_shows_its_epipolar_line_for_f(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files, geometry="F")
    assert window.model.current_fit().geometry.ok
    window.model.select(0)
    xs, ys = window.view.epipolar_item.getData()
    assert xs is not None and len(xs) == 2
    offset = window.view.image_offset()
    k1 = window.model.result.kpts1[0] + 0.5 + offset
    direction = np.array([xs[1] - xs[0], ys[1] - ys[0]])
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    assert abs(float((k1 - np.array([xs[0], ys[0]])) @ normal)) < 3.0
    assert "Sampson" in window.inspector.fields["residual"].text()


def test_homography_projection_and_overlay(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files, geometry="H")
    window.model.select(0)
    assert len(window.view.projection_item.data) == 1
    window.controls.overlay.setChecked(True)
    qtbot.waitUntil(window.view.overlay_item.isVisible, timeout=5000)
    assert window.view.drawn_line_count() == 0, "lines would hide the alignment"
    assert window.view.overlay_item.image.shape[:2] == window.model.images[0].size
    window.controls.overlay_checker.setChecked(True)
    qtbot.waitUntil(lambda: window.view.overlay_item.opacity() == 1.0, timeout=5000)
    window.controls.overlay.setChecked(False)
    assert not window.view.overlay_item.isVisible()
    assert window.view.drawn_line_count() == window.model.visible_count()


def test_a_b_keeps_a_threshold_and_counts(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=300)
    window = make_window(matcher)
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.spin.setValue(0.0)
    window.model.keep_as_a("A")
    first = window.model.result
    window.runs.run()  # the fake draws new random matches on each call: few shared
    wait_idle(qtbot, window)
    comparison = window.model.comparison()
    assert comparison is not None
    assert comparison.shared + comparison.gained == window.model.visible_count()
    assert int((comparison.shared_a & comparison.kept_a).sum()) + comparison.lost == len(first)
    assert "shared" in window.controls.compare_label.text() and "threshold 0" in window.controls.compare_label.text()
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("compare"))
    assert window.view.lost_line_count() == comparison.lost
    assert window.controls.legend.spec.labels[0] == "shared"
    # B's threshold moves, A's stays: A's matches without a visible counterpart become lost.
    window.controls.spin.setValue(0.5)
    after = window.model.comparison()
    assert after.shared + after.gained == window.model.visible_count()
    assert window.model.a_threshold() == pytest.approx(0.0)
    window.controls.a_follows_b.setChecked(True)
    assert window.model.a_threshold() == pytest.approx(0.5)
    assert window.model.comparison().kept_a.sum() == int((first.scores >= 0.5).sum())


def test_identical_rerun_shares_everything(make_window, qtbot, image_files):
    class Same(FakeMatcher):
        def __call__(self, *args, **kwargs):
            self.calls = 0  # the same random draw every time
            return super().__call__(*args, **kwargs)

    window = make_window(Same(count=300))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.spin.setValue(0.3)
    window.runs.run()
    wait_idle(qtbot, window)
    comparison = window.model.comparison()
    assert (comparison.gained, comparison.lost) == (0, 0)
    assert comparison.shared == window.model.visible_count()


def test_histogram_marker_moves_the_threshold(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    window.histogram.marker.setValue(0.7)
    assert abs(window.model.threshold - 0.7) < 1e-9
    assert window.controls.slider.value() == 700
    window.controls.slider.setValue(100)
    assert abs(window.histogram.marker.value() - 0.1) < 1e-9


def test_opt_logits_get_their_own_slider_range(make_window, qtbot, image_files):
    class Logits(FakeMatcher):
        def __call__(self, *args, **kwargs):
            from dataclasses import replace

            result = super().__call__(*args, **kwargs)
            return replace(result, scores=(17 + 63 * result.scores).astype(np.float32))

    window = make_window(Logits(count=200))
    load(qtbot, window, image_files[0], image_files[1])
    assert window.model.score_range == (0.0, 80.0)
    assert window.controls.spin.maximum() == pytest.approx(80.0)
    window.controls.slider.setValue(500)
    assert window.model.threshold == pytest.approx(40.0)
    assert window.model.visible_count() == int((window.model.result.scores >= 40.0).sum())
    low, high = window.histogram.getViewBox().viewRange()[0]
    assert low < 1 and high > 79


def test_heatmap_markers_and_layout(make_window, qtbot, image_files):
    window = _matched(make_window, qtbot, image_files)
    window.controls.heatmap.setChecked(True)
    qtbot.waitUntil(lambda: window.view.heat_items[0].isVisible(), timeout=3000)
    rgba = window.view.heat_items[0].image
    assert rgba.shape[2] == 4 and rgba[..., 3].max() > 0
    lit = rgba[rgba[..., 3] > 0][:, :3].astype(int)
    assert not np.any((lit[:, 0] > 200) & (lit[:, 1] < 80)), "the density colours are never the outlier red"
    assert window.controls.legend.heat is not None
    window.controls.markers.setChecked(True)
    assert window.view.points.isVisible()
    assert window.view.points.drawn_count() == window.model.visible_count()
    window.controls.layout_mode.setCurrentIndex(window.controls.layout_mode.findData("stacked"))
    assert window.view.layout_mode == "stacked" and window.view.image_offset()[0] == 0


def test_a_b_says_how_far_shared_keypoints_moved(make_window, qtbot, image_files):
    """What a backend or precision change did: shared / gained / lost, and the keypoint difference by decade."""
    from dataclasses import replace

    window = make_window(FakeMatcher(count=200))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    load(qtbot, window, image_files[0], image_files[1])
    model = window.model
    model.set_threshold(0.0)
    a = model.result
    model.keep_as_a("torch")
    moved = a.kpts1.copy()
    moved[:150, 0] += 3e-4  # an export that moves most keypoints by a few 1e-4 px, one by half a pixel
    moved[150, 1] += 0.5
    model.set_result(replace(a, kpts1=moved), model.pair_version)
    wait_idle(qtbot, window)
    text = window.controls.compare_label.text()
    assert "shared 200 · gained 0 · lost 0" in text
    assert "shared keypoints moved: max 0.5 px" in text and "150 by <0.001 px" in text, text


def test_overlay_shows_only_the_picture_made_for_the_current_settings(make_window, qtbot, image_files):
    """A picture that arrives late, made for the checkerboard the user has since switched off, is not shown; the one
    for the current setting is."""
    window = _matched(make_window, qtbot, image_files, geometry="H")
    item = window.view.overlay_item
    window.controls.overlay_checker.click()  # checkerboard on
    window.controls.overlay.click()  # overlay on
    wait_idle(qtbot, window)
    assert item.isVisible() and item.opacity() == 1.0
    checker_picture = np.array(item.image)
    window.controls.overlay_checker.click()  # off: the checkerboard picture is no longer current
    assert not item.isVisible(), "no picture is shown for settings it was not made with"
    wait_idle(qtbot, window)
    plain_picture = np.array(item.image)
    assert item.isVisible() and not np.array_equal(plain_picture, checker_picture)
    assert item.opacity() == pytest.approx(window.model.display.overlay_blend)
    # The checkerboard job lands late (its runner finished after the switch): the view keeps the current picture.
    held = window.model.overlay
    assert held is not None
    window.analysis.overlays.finished.emit(0, replace(held, checker=True, image=checker_picture))
    qtbot.wait(20)
    assert np.array_equal(item.image, plain_picture) and window.model.overlay is held
    window.controls.overlay_blend.setValue(30)  # the blend changes how it is shown, not the picture
    assert item.opacity() == pytest.approx(0.3) and np.array_equal(item.image, plain_picture)


def test_a_failed_overlay_says_so_and_leaves_the_window_idle(make_window, qtbot, image_files, monkeypatch):
    import gui.controllers.analysis as analysis

    def broken(*_: object) -> None:
        raise MemoryError("no room for the warped image")

    monkeypatch.setattr(analysis, "warp_onto_first", broken)
    window = _matched(make_window, qtbot, image_files, geometry="H")
    window.controls.overlay.click()
    wait_idle(qtbot, window)  # would time out while a failed overlay still counted as pending
    assert not window.view.overlay_item.isVisible()
    assert "Overlay failed" in window.statusBar().currentMessage()
