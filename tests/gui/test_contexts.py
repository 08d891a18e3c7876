"""Contexts keep their own settings: browsing a run does not change what the next plain launch starts with."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.types import DEFAULT_DISPLAY_THRESHOLD
from gui.pair_table import COLUMNS
from tests.scene_run import write_grey_images, write_scene_run

pytest.importorskip("pycolmap")


def _run_with_images(tmp_path):
    database = write_scene_run(tmp_path, count=3)
    images = write_grey_images(database, tmp_path / "images")
    return database, images


def _browse(make_window, qtbot, database, images):
    window = make_window()
    window.resize(1280, 720)
    assert window.matching_run.open_path(str(database), str(images))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=20000)
    return window


def test_after_browsing_a_plain_launch_starts_with_the_defaults(make_window, qtbot, tmp_path):
    database, images = _run_with_images(tmp_path)
    plain = make_window()
    plain.resize(1280, 720)
    plain.close()
    window = _browse(make_window, qtbot, database, images)
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("residual"))
    browsed_threshold = window.model.threshold
    assert browsed_threshold < DEFAULT_DISPLAY_THRESHOLD
    assert window.matching_run.pairs_dock.isVisible()
    window.close()

    again = make_window()
    again.resize(1280, 720)
    qtbot.wait(50)
    assert again.controls.spin.value() == pytest.approx(DEFAULT_DISPLAY_THRESHOLD)
    assert again.controls.color_mode.currentData() == "confidence"
    assert not again.matching_run.pairs_dock.isVisible() and not again.matching_run.matrix_dock.isVisible()
    assert again.view.width() > 0.4 * again.width(), "the images keep the middle of the window"
    again.close()

    # The browse context keeps its own: the next run opens with what browsing last used.
    window = make_window()
    window.controls.line_budget.setValue(0)
    window.close()
    browsing = _browse(make_window, qtbot, database, images)
    assert browsing.model.display.line_budget != 0, "the plain session's change stays in the plain session"
    browsing.controls.line_budget.setValue(7000)
    browsing.close()
    browsing = _browse(make_window, qtbot, database, images)
    assert browsing.controls.line_budget.value() == 7000


def test_exif_checkbox_follows_the_pair_being_browsed(make_window, qtbot, tmp_path):
    database, images = _run_with_images(tmp_path)
    window = _browse(make_window, qtbot, database, images)
    pair = window.matching_run.pair
    assert not pair.exif_applied, "COLMAP's keypoints refer to the stored pixels"
    assert not window.exif_action.isChecked(), "the menu says what the loader does"
    assert not window.model.image_options.apply_exif
    window.exif_action.trigger()  # the user ticks it: the loader reads the pair upright
    assert window.model.image_options.apply_exif and window.exif_action.isChecked()


def _pose_errors(browser) -> list[str]:
    column = [c.key for c in COLUMNS].index("pose_error")
    return [browser.model.index(row, column).data() for row in range(browser.model.rowCount())]


def _check_all(qtbot, browser) -> list[str]:
    browser.check_button.click()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=20000)
    return _pose_errors(browser)


def test_a_typed_focal_length_belongs_to_the_browsed_run_and_closing_returns_to_the_plain_context(
    make_window, qtbot, tmp_path
):
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    database, images = _run_with_images(tmp_path / "first")
    other, other_images = _run_with_images(tmp_path / "second")
    window = _browse(make_window, qtbot, database, images)
    browser = window.matching_run.browser
    assert window.browsing.mode == "browse" and window.browsing.focal_px is None
    from_cameras = _check_all(qtbot, browser)

    browser.focal.setFocus()
    browser.focal.selectAll()
    qtbot.keyClicks(browser.focal, "150")
    qtbot.keyClick(browser.focal, Qt.Key.Key_Return)
    assert window.browsing.focal_px == 150.0
    assert not hasattr(window.browsing.run, "focal_px"), "the typed focal length is a setting, not the run's"
    qtbot.waitUntil(lambda: window.is_idle() and window.matching_run.pair is not None, timeout=20000)
    assert [k.fx for k in window.matching_run.pair.intrinsics] == [150.0, 150.0]
    typed = _check_all(qtbot, browser)
    assert typed != from_cameras, "the pose errors follow the typed focal length"

    assert window.matching_run.open_path(str(other), str(other_images))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=20000)
    assert window.browsing.focal_px is None and browser.focal.value() == 0.0, "the focal length stays with its run"
    assert [k.source for k in window.matching_run.pair.intrinsics] != ["typed in", "typed in"]
    assert _check_all(qtbot, browser) == from_cameras

    window.close_run_action.trigger()
    assert window.browsing.mode == "pair" and window.browsing.run is None and window.browsing.reference is None
    assert window.matching_run.table is None and browser.model is None
    assert not window.matching_run.pairs_dock.isVisible() and not window.matching_run.matrix_dock.isVisible()
    assert not window.close_run_action.isEnabled()
