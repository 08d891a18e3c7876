"""The panels as a user meets them: the Inspect dock keeps its width, the match table starts at the top after a
filter, and model settings that do not apply (SIFT chosen) are disabled and look it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher
from tests.gui.test_geometry_settings import choose, type_into


def test_inspect_dock_keeps_its_width_when_a_match_is_selected(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=3000))
    window.resize(1280, 720)
    load(qtbot, window, image_files[0], image_files[1])
    qtbot.wait(50)
    dock = window.inspector_dock
    before = dock.width()
    for _ in range(3):  # a match far down the list: long numbers in every field
        qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton, pos=window.view.rect().center())
        window.click_match(int(np.flatnonzero(window.model.visible_mask())[-1]))
        qtbot.keyClick(window.view, Qt.Key.Key_Left)
        wait_idle(qtbot, window)
        qtbot.wait(50)
        assert window.model.selected >= 0
        assert window.inspector.title.text().startswith("Match #")
        assert dock.width() == before, "selecting a match must not widen the Inspect dock"


def _top_row(table) -> int:
    return table.rowAt(0)


def test_match_table_is_at_the_top_after_a_filter(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=2000))
    load(qtbot, window, image_files[0], image_files[1])
    type_into(qtbot, window.controls.spin, "0.1")
    wait_idle(qtbot, window)
    table = window.table
    table.setFocus()
    for _ in range(6):  # scroll well down the list, as with the mouse wheel
        qtbot.keyClick(table, Qt.Key.Key_PageDown)
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum() // 2)
    assert _top_row(table) > 50
    window.model.select(-1)
    type_into(qtbot, window.controls.spin, "0.3")  # a new threshold: a new list
    wait_idle(qtbot, window)
    assert table.model_.rowCount() == window.model.visible_count()
    assert table.verticalScrollBar().value() == 0 and _top_row(table) == 0
    first = table.model_.index(0, 0).data()
    assert first == str(int(np.flatnonzero(window.model.visible_mask())[0])), "the best match heads the table"


NEURAL_ONLY = ("weights", "device", "precision", "resolution", "variant", "backend", "model floor")


def _grab(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return pixels[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


@pytest.fixture
def styled(qapp):
    """The application's own style sheet, as `match-inspector` launches it."""
    from resources import resource_path

    previous = qapp.styleSheet()
    qapp.setStyleSheet(resource_path("style.qss").read_text())
    yield
    qapp.setStyleSheet(previous)


def test_sift_disables_the_model_settings_and_they_look_disabled(make_window, qtbot, styled):
    window = make_window()
    controls = window.controls
    window.controls_dock.show()
    qtbot.wait(20)
    enabled = {name: _grab(widget) for name, widget in controls._option_widgets.items()}
    labels = {name: _grab(controls.option_label(name)) for name in NEURAL_ONLY}
    choose(controls.matcher, "sift")
    assert window.model.match_options.matcher == "sift"
    qtbot.wait(20)
    for name in NEURAL_ONLY:
        widget = controls._option_widgets[name]
        assert not widget.isEnabled(), name
        assert not controls.option_label(name).isEnabled(), name
        shown = _grab(widget)
        # The text is dimmed: the brightest pixels (the text) get darker.
        assert np.percentile(shown, 99.5) < np.percentile(enabled[name], 99.5) - 40, f"{name} still looks enabled"
        label = _grab(controls.option_label(name))
        assert label.max() < labels[name].max() - 40, f"the label of {name} still looks enabled"
    assert controls.browse.isEnabled() is False
    choose(controls.matcher, "eloftr")
    assert all(widget.isEnabled() for widget in controls._option_widgets.values())
    assert (_grab(controls.weights) == enabled["weights"]).mean() > 0.99


def test_disabled_combo_ignores_the_wheel_and_clicks(make_window, qtbot, styled):
    window = make_window()
    controls = window.controls
    choose(controls.matcher, "sift")
    before = controls.precision.currentIndex()
    qtbot.mouseClick(controls.precision, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    qtbot.keyClick(controls.precision, Qt.Key.Key_Down)
    assert controls.precision.currentIndex() == before
    assert window.model.match_options.precision == "fp32"


def test_a_shorter_new_result_is_never_painted_with_the_old_rows(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=600)
    window = make_window(matcher)
    load(qtbot, window, image_files[0], image_files[1])
    table = window.table
    table.verticalScrollBar().setValue(table.verticalScrollBar().maximum())
    painted = []
    # What a paint at that moment would read (painting the old rows then indexed past the new result).
    window.model.result_changed.connect(lambda: painted.append(table.model_.rowCount()))
    matcher.count = 40
    qtbot.mouseClick(window.controls.run_button, Qt.MouseButton.LeftButton)  # Match again: 40 matches
    wait_idle(qtbot, window)
    assert painted and painted[-1] <= 40, "the table showed the old result's rows under the new result"
    assert table.model_.rowCount() == window.model.visible_count()
