"""The controls as a person uses them: typed numbers, arrow keys, the mouse wheel, shortcuts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import load
from tests.gui.fakes import FakeMatcher


def _type(qtbot, box, text: str) -> None:
    """Click into the box, select what is there, type, press Enter."""
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def _wheel(widget, steps: int = 1) -> None:
    """A real wheel event over the middle of a widget (one notch = 120 units, scrolling down)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        widget.mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, -120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


@pytest.mark.parametrize("typed, expected", [("0.25", 0.25), ("0.2", 0.2), ("0.037", 0.037), ("1", 1.0)])
def test_typing_a_threshold_gives_the_typed_value(make_window, qtbot, image_files, typed, expected):
    window = make_window(FakeMatcher(count=500))
    load(qtbot, window, image_files[0], image_files[1])
    _type(qtbot, window.controls.spin, typed)
    assert window.controls.spin.value() == pytest.approx(expected)
    assert window.model.threshold == pytest.approx(expected)
    assert window.controls.slider.value() == round(expected * 1000)


def test_typing_does_not_apply_half_typed_numbers(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=500))
    load(qtbot, window, image_files[0], image_files[1])
    window.model.set_threshold(0.6)
    box = window.controls.spin
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.selectAll()
    qtbot.keyClicks(box, "0.2")
    assert window.model.threshold == pytest.approx(0.6), "nothing applies before Enter or focus-out"
    window.view.setFocus()  # focus-out commits
    qtbot.waitUntil(lambda: abs(window.model.threshold - 0.2) < 1e-9, timeout=2000)


def test_typing_pixel_boxes(make_window, qtbot):
    window = make_window()
    _type(qtbot, window.controls.geometry_threshold, "1.25")
    assert window.model.geometry_options.threshold_px == pytest.approx(1.25)
    _type(qtbot, window.controls.line_width, "2.5")
    assert window.model.display.line_width == pytest.approx(2.5)
    _type(qtbot, window.controls.line_budget, "1500")
    assert window.model.display.line_budget == 1500


def test_up_and_down_change_the_focused_box_not_the_selection(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=300))
    load(qtbot, window, image_files[0], image_files[1])
    window.model.set_threshold(0.3)
    window.model.step_selection(1)
    selected = window.model.selected
    box = window.controls.spin
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_Up)
    assert window.model.threshold == pytest.approx(0.31)
    qtbot.keyClick(box, Qt.Key.Key_Down)
    qtbot.keyClick(box, Qt.Key.Key_Down)
    assert window.model.threshold == pytest.approx(0.29)
    assert window.model.selected == selected, "the arrows belong to the box with focus"
    px = window.controls.geometry_threshold
    px.setFocus()
    qtbot.waitUntil(px.hasFocus, timeout=2000)
    qtbot.keyClick(px, Qt.Key.Key_Up)
    assert window.model.geometry_options.threshold_px == pytest.approx(3.5)


def test_wheel_over_unfocused_controls_scrolls_the_panel(make_window, qtbot):
    window = make_window()
    window.resize(1200, 500)  # a short window: the controls panel scrolls
    qtbot.wait(50)
    scrollbar = window.controls_scroll.verticalScrollBar()
    assert scrollbar.maximum() > 0
    window.view.setFocus()
    boxes = {
        "inlier threshold": (window.controls.geometry_threshold, lambda: window.model.geometry_options.threshold_px),
        "threshold": (window.controls.spin, lambda: window.model.threshold),
        "colour": (window.controls.color_mode, lambda: window.model.display.color_mode),
        "opacity": (window.controls.opacity, lambda: window.model.display.opacity),
        "resolution": (window.controls.resolution, lambda: window.model.match_options),
    }
    before = {name: read() for name, (_, read) in boxes.items()}
    start = scrollbar.value()
    for _, (widget, _) in boxes.items():
        _wheel(widget, 3)
    assert {name: read() for name, (_, read) in boxes.items()} == before, "nothing under the pointer changed"
    assert scrollbar.value() > start, "the panel scrolled instead"
    # Once a box has focus, the wheel is its own.
    box = window.controls.geometry_threshold
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    _wheel(box, 1)
    assert window.model.geometry_options.threshold_px != before["inlier threshold"]


def test_close_shortcut_closes_and_swap_has_its_own(make_window, qtbot, image_files):
    window = make_window()
    actions = {a.text(): a for a in window.findChildren(type(window.menuBar().actions()[0]))}
    assert QKeySequence("Ctrl+W") in actions["Close window"].shortcuts()
    assert actions["Swap images"].shortcut() != QKeySequence("Ctrl+W")
    load(qtbot, window, image_files[0], image_files[2], run=False)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.view, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)


def test_sift_disables_model_settings_and_changes_are_marked_pending(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=100))
    controls = window.controls
    load(qtbot, window, image_files[0], image_files[1])
    assert controls.pending_label.text() == ""
    controls.resolution.setCurrentIndex(controls.resolution.findText("long side 1024"))
    assert "resolution" in controls.pending_label.text()
    assert "e0a020" in controls.resolution.styleSheet()
    window.runs.run()
    qtbot.waitUntil(window.is_idle, timeout=5000)
    assert controls.pending_label.text() == "" and controls.resolution.styleSheet() == ""
    assert window.model.result_options.long_side == 1024
    controls.matcher.setCurrentIndex(controls.matcher.findData("sift"))
    for widget in (controls.weights, controls.device, controls.precision, controls.resolution, controls.variant):
        assert not widget.isEnabled()
    assert "matcher" in controls.pending_label.text()
