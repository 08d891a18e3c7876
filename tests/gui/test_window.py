from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.formats.match_files import read_matches
from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher


def test_drop_two_files_matches_and_counts(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=800))
    window.drop_files([str(image_files[0]), str(image_files[1])])
    wait_idle(qtbot, window)
    model = window.model
    assert model.result is not None and len(model.result) == 800
    assert window.view.drawn_line_count() == model.visible_count() > 0
    assert window.controls.count_label.text() == f"{model.visible_count():,} of 800 matches visible"


def test_slider_filters_without_rerunning_the_model(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=1000)
    window = make_window(matcher)
    load(qtbot, window, image_files[0], image_files[1])
    calls = matcher.calls
    counts = []
    for value in (0, 250, 500, 900, 1000):
        window.controls.slider.setValue(value)
        counts.append(window.view.drawn_line_count())
        assert counts[-1] == int(np.count_nonzero(window.model.result.scores >= value / 1000))
    assert counts == sorted(counts, reverse=True) and counts[0] == 1000
    assert window.controls.spin.value() == pytest.approx(1.0)
    window.controls.spin.setValue(0.3)
    assert window.controls.slider.value() == 300
    assert matcher.calls == calls


def test_one_dropped_file_goes_to_the_empty_slot(make_window, qtbot, image_files):
    window = make_window()
    window.drop_files([str(image_files[0])])
    wait_idle(qtbot, window)
    assert window.model.images[0] is not None and window.model.images[1] is None
    window.drop_files([str(image_files[2])])
    wait_idle(qtbot, window)
    assert window.model.images[1].size == (300, 200)
    assert window.model.result is not None


def test_click_on_a_line_selects_it_and_fills_the_panel(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=40))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.slider.setValue(0)
    qtbot.wait(50)
    target = 5
    start, end = window.view.match_view_point(target, 0), window.view.match_view_point(target, 1)
    point = QPointF(start.x() * 0.9 + end.x() * 0.1, start.y() * 0.9 + end.y() * 0.1)
    widget_point = window.view.mapFromScene(window.view.view.mapViewToScene(point))
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    qtbot.waitUntil(lambda: window.model.selected >= 0, timeout=3000)
    selected = window.model.selected
    assert window.view.nearest_match(point) == selected  # the target's line, or one crossing it right there
    assert window.inspector.fields["index"].text() == str(selected)
    assert window.inspector.fields["score"].text() == f"{window.model.result.scores[selected]:.5f}"
    assert window.inspector.patches[0].pixmap() is not None


def test_arrow_keys_on_the_view_step_through_visible_matches(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=30))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.spin.setValue(0.5)
    visible = np.flatnonzero(window.model.visible_mask())
    qtbot.waitUntil(lambda: window.table.model_.rowCount() == len(visible), timeout=2000)  # refreshed once it pauses
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Right)
    assert window.model.selected == visible[0]
    qtbot.keyClick(window.view, Qt.Key.Key_Down)
    assert window.model.selected == visible[1]
    assert window.inspector.title.text().startswith(f"Match #{visible[1]}: 2 of {len(visible)} visible")
    model = window.table.model_
    assert window.table.selectionModel().selectedRows()[0].row() == model.row_of(visible[1])
    window.table.selectRow(model.row_of(visible[3]))  # table -> view
    assert window.model.selected == visible[3]
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.model.selected == -1
    window.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    xs = [float(model.data(model.index(r, 2))) for r in range(model.rowCount())]
    assert xs == sorted(xs) and len(xs) == len(visible)


def test_selection_pans_the_view_to_an_off_screen_match(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=200))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.slider.setValue(0)
    window.view.view.setRange(xRange=(0, 40), yRange=(0, 30), padding=0)
    qtbot.wait(20)
    far = int(np.argmax(window.model.result.kpts0[:, 0] + window.model.result.kpts0[:, 1]))
    window.model.select(far)
    (x0, x1), (y0, y1) = window.view.view.viewRange()
    point = window.view.match_view_point(far, 0)
    assert x0 <= point.x() <= x1 and y0 <= point.y() <= y1
    assert x1 - x0 == pytest.approx(40, rel=0.3), "following keeps the zoom"


def test_new_pair_during_run_discards_the_stale_result(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=100)
    matcher.gate.clear()  # runs block until released
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: matcher.calls == 1, timeout=3000)
    assert window.model.busy
    window.load_pair(str(image_files[2]), str(image_files[3]))
    qtbot.waitUntil(lambda: window.model.images[0].size == (300, 200), timeout=3000)
    matcher.gate.set()
    wait_idle(qtbot, window)
    qtbot.wait(100)
    assert window.model.result is not None
    assert window.model.result.image_sizes == ((300, 200), (180, 260)), "the result shown belongs to the pair shown"


class _IgnoresCancel(FakeMatcher):
    """Finishes its work even when asked to stop: the window must still drop its result."""

    def __call__(self, image0, image1, options, progress=None, cancelled=None):
        return super().__call__(image0, image1, options, progress=progress, cancelled=None)


def test_result_for_an_old_pair_never_lands_on_the_new_one(make_window, qtbot, image_files):
    matcher = _IgnoresCancel(count=50, delay=0.4)
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: matcher.calls == 1, timeout=3000)
    load(qtbot, window, image_files[2], image_files[3])
    qtbot.wait(600)
    assert window.model.result.image_sizes == ((300, 200), (180, 260))


def test_cancel_button_stops_the_run(make_window, qtbot, image_files):
    matcher = FakeMatcher()
    matcher.gate.clear()
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: window.controls.cancel_button.isEnabled(), timeout=3000)
    window.controls.cancel_button.click()
    wait_idle(qtbot, window)
    assert window.model.result is None and not window.model.busy
    matcher.gate.set()


def test_no_weights_message_offers_the_baseline(make_window, qtbot, image_files):
    from core.errors import WeightsError

    def no_weights(*args, **kwargs):
        raise WeightsError("the weights 'zju-community/efficientloftr' are not in the local cache")

    window = make_window(no_weights)
    load(qtbot, window, image_files[0], image_files[1])
    assert window.message_bar.isVisible()
    text = window.message_bar.label.text()
    assert "No usable EfficientLoFTR weights" in text and "Traceback" not in text
    from core.matchers.registry import default_matcher, matcher_spec
    from core.types import MatchOptions

    offline = matcher_spec(default_matcher(MatchOptions())[0])
    assert window.message_bar.action.text() == f"Use {offline.label}"


def test_unreadable_image_is_a_message_and_keeps_the_pair(make_window, qtbot, image_files, tmp_path):
    window = make_window()
    load(qtbot, window, image_files[0], image_files[1])
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    load(qtbot, window, broken, image_files[2])
    assert "broken.jpg" in window.last_error and window.message_bar.isVisible()
    assert window.model.images[0].path == image_files[0] and window.model.result is not None


def test_exports_read_back_identical(make_window, qtbot, image_files, tmp_path):
    window = make_window(FakeMatcher(count=300))
    load(qtbot, window, image_files[0], image_files[1])
    window.controls.spin.setValue(0.4)
    kept = window.model.result.subset(window.model.result.keep(0.4))
    for suffix in (".csv", ".json", ".npz"):
        path = tmp_path / f"matches{suffix}"
        assert window.exports.export_matches(str(path))
        back = read_matches(path)
        np.testing.assert_array_equal(back.kpts0, kept.kpts0)
        np.testing.assert_array_equal(back.kpts1, kept.kpts1)
        np.testing.assert_array_equal(back.scores, kept.scores)
        assert back.provenance["threshold"] == pytest.approx(0.4)
        assert back.provenance["image0"] == str(image_files[0])


def _matched_capturing_warnings(make_window, qtbot, image_files, monkeypatch):
    """A matched window whose warning dialogs are recorded instead of shown."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    window = make_window()
    load(qtbot, window, image_files[0], image_files[1])
    return window, shown


def test_export_to_read_only_folder_is_a_message(make_window, qtbot, image_files, tmp_path, monkeypatch):
    """A folder we may not write to (simulated: tests run as root, which ignores permission bits)."""
    import tempfile

    window, shown = _matched_capturing_warnings(make_window, qtbot, image_files, monkeypatch)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    folder = tmp_path / "exports"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", denied)
    for name in ("m.csv", "m.npz", "view.png"):
        if name.endswith(".png"):
            window.exports.export_png(str(folder / name))
            wait_idle(qtbot, window)
        else:
            assert not window.exports.export_matches(str(folder / name))
        assert f"cannot write {name}: Permission denied" in shown[-1]
    assert list(folder.iterdir()) == []


def test_failed_export_keeps_the_previous_file(make_window, qtbot, image_files, tmp_path, monkeypatch):
    window, shown = _matched_capturing_warnings(make_window, qtbot, image_files, monkeypatch)
    target = tmp_path / "matches.json"
    target.write_text("previous content")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    assert not window.exports.export_matches(str(target))
    assert target.read_text() == "previous content"
    assert shown and "No space left on device" in shown[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".matches")] == []


def test_settings_persist_across_launches(make_window, qtbot):
    window = make_window()
    window.controls.resolution.setCurrentIndex(3)
    window.controls.geometry_model.setCurrentIndex(1)
    window.controls.spin.setValue(0.35)
    window.controls.weights.setText("/models/eloftr_outdoor.ckpt")
    window.controls.weights.editingFinished.emit()
    window.controls.line_budget.setValue(5000)
    window.close()
    again = make_window()
    assert again.controls.resolution.currentIndex() == 3
    assert again.controls.geometry_model.currentData() == "H"
    assert again.model.threshold == pytest.approx(0.35)
    assert again.controls.weights.text() == "/models/eloftr_outdoor.ckpt"
    assert again.model.display.line_budget == 5000 and again.controls.line_budget.value() == 5000


def test_slider_soak_many_thousand_moves(make_window, qtbot, image_files, qapp):
    """Thousands of signal emits: a PySide6 build that leaks references to True/None aborts here."""
    window = make_window(FakeMatcher(count=2000))
    load(qtbot, window, image_files[0], image_files[1])
    rng = np.random.default_rng(1)
    for step, value in enumerate(rng.integers(0, 1001, 6000)):
        window.controls.slider.setValue(int(value))
        if step % 200 == 0:
            qapp.processEvents()
    window.controls.slider.setValue(500)
    qapp.processEvents()
    assert window.view.drawn_line_count() == window.model.visible_count()


def test_run_notes_reach_the_status_bar(make_window, qtbot, image_files):
    from dataclasses import replace

    base = FakeMatcher(count=20)

    def with_note(*args, **kwargs):
        result = base(*args, **kwargs)
        info = replace(result.info, notes=("large images: inference at 1344x1008 to stay within memory",))
        return replace(result, info=info)

    window = make_window(with_note)
    load(qtbot, window, image_files[0], image_files[1])
    assert "to stay within memory" in window.statusBar().currentMessage()
