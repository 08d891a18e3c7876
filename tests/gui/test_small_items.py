"""Smaller things a user met: line budget counts, typed budgets, the overlay's count line, File ▸ Open pair."""

from __future__ import annotations

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher, NoisyMatcher
from tests.gui.test_geometry_settings import choose, type_into


def test_line_budget_never_thins_below_the_budget(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=400))
    load(qtbot, window, image_files[0], image_files[1])
    controls, model = window.controls, window.model
    type_into(qtbot, controls.line_budget, "100")
    assert model.display.line_budget == 100
    type_into(qtbot, controls.spin, "0.8")
    visible = model.visible_count()
    assert 50 < visible < 100
    assert window.view.drawn_line_count() == visible, "every visible line fits in the budget"
    assert "line budget" not in controls.count_label.text()
    type_into(qtbot, controls.spin, "0")
    assert window.view.drawn_line_count() <= 100
    assert f"of {model.visible_count():,} lines (line budget)" in controls.count_label.text()


def test_a_typed_budget_of_20_draws_20_lines(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=400))
    load(qtbot, window, image_files[0], image_files[1])
    type_into(qtbot, window.controls.line_budget, "20")
    assert window.controls.line_budget.value() == 20 and window.model.display.line_budget == 20
    assert 0 < window.view.drawn_line_count() <= 20
    assert f"showing {window.view.drawn_line_count()} of" in window.controls.count_label.text()


def test_overlay_count_line_says_the_lines_are_under_it(make_window, qtbot, image_files):
    window = make_window(NoisyMatcher(count=300))
    choose(window.controls.geometry_model, "H")
    load(qtbot, window, image_files[0], image_files[1])
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    window.controls.overlay.setChecked(True)
    text = window.controls.count_label.text()
    assert "lines hidden under the overlay" in text and "showing 0" not in text, text


def test_file_open_pair_also_matches(make_window, qtbot, image_files, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    chosen = [str(image_files[0]), str(image_files[1])]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: (chosen, "")))
    window = make_window(FakeMatcher(count=50))
    file_menu = window.menuBar().actions()[0].menu()
    next(action for action in file_menu.actions() if action.text() == "Open pair…").trigger()
    qtbot.waitUntil(lambda: window.model.result is not None, timeout=10000)
    wait_idle(qtbot, window)
    assert (
        "50 of 50" in window.controls.count_label.text()
        or "of 50 matches visible" in window.controls.count_label.text()
    )
