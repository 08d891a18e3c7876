from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.export import read_matches
from tests.gui.conftest import wait_idle
from tests.gui.fakes import FakeMatcher


def test_drop_two_files_matches_and_draws_batched_lines(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=800))
    window.drop_files([str(image_files[0]), str(image_files[1])])
    wait_idle(qtbot, window)
    state = window.state
    assert state.result is not None and len(state.result) == 800
    assert window.view.drawn_line_count() == state.visible_count() > 0
    assert len(window.view.buckets) <= 16, "lines are drawn as a few colour buckets, never one item per line"
    assert window.controls.count_label.text() == f"{state.visible_count():,} of 800 matches"


def test_slider_filters_without_rerunning_the_model(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=1000)
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    calls = matcher.calls
    counts = []
    for value in (0, 250, 500, 900, 1000):
        window.controls.slider.setValue(value)
        counts.append(window.view.drawn_line_count())
        assert counts[-1] == int(np.count_nonzero(window.state.result.scores >= value / 1000))
    assert counts == sorted(counts, reverse=True) and counts[0] == 1000
    assert window.controls.spin.value() == pytest.approx(1.0)
    window.controls.spin.setValue(0.3)
    assert window.controls.slider.value() == 300
    assert matcher.calls == calls


def test_one_dropped_file_goes_to_the_empty_slot(make_window, qtbot, image_files):
    window = make_window()
    window.drop_files([str(image_files[0])])
    assert window.state.images[0] is not None and window.state.images[1] is None
    window.drop_files([str(image_files[2])])
    wait_idle(qtbot, window)
    assert window.state.images[1].size == (300, 200)
    assert window.state.result is not None


def test_click_on_a_line_selects_it_and_fills_the_panel(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=40))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    window.controls.slider.setValue(0)
    qtbot.wait(50)
    target = 5
    start, end = window.view.match_view_point(target, 0), window.view.match_view_point(target, 1)
    point = QPointF(start.x() * 0.9 + end.x() * 0.1, start.y() * 0.9 + end.y() * 0.1)
    scene_point = window.view.view.mapViewToScene(point)
    widget_point = window.view.mapFromScene(scene_point)
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=widget_point)
    qtbot.waitUntil(lambda: window.state.selected >= 0, timeout=3000)
    selected = window.state.selected
    # The click landed on the target's line (or on one crossing it right there).
    assert window.view.nearest_match(point) == selected
    assert window.inspector.fields["index"].text() == str(selected)
    assert window.inspector.fields["score"].text() == f"{window.state.result.scores[selected]:.5f}"
    assert window.inspector.patches[0].pixmap() is not None


def test_keys_step_and_escape_clears_and_table_follows(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=30))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    window.controls.slider.setValue(0)
    window.side_tabs.setCurrentWidget(window.table)
    window.state.select(3)
    window.state.step_selection(1)
    assert window.state.selected == 4
    model = window.table.model_
    assert window.table.selectionModel().selectedRows()[0].row() == model.row_of(4)
    # Table -> view: picking a row selects that match.
    window.table.selectRow(model.row_of(10))
    assert window.state.selected == 10
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.state.selected == -1
    # Sorting by x0 orders rows by x0.
    window.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    xs = [float(model.data(model.index(r, 2))) for r in range(model.rowCount())]
    assert xs == sorted(xs)


def test_new_pair_during_run_discards_the_stale_result(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=100)
    matcher.gate.clear()  # runs block until released
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: matcher.calls == 1, timeout=3000)
    assert window.state.busy
    window.load_pair(str(image_files[2]), str(image_files[3]))
    matcher.gate.set()
    wait_idle(qtbot, window)
    qtbot.wait(100)
    result = window.state.result
    assert result is not None
    assert result.image_sizes == ((300, 200), (180, 260)), "the result shown belongs to the pair shown"


class _IgnoresCancel(FakeMatcher):
    """Finishes its work even when asked to stop: the window must still drop its result."""

    def __call__(self, image0, image1, options, progress=None, cancelled=None):
        return super().__call__(image0, image1, options, progress=progress, cancelled=None)


def test_result_for_an_old_pair_never_lands_on_the_new_one(make_window, qtbot, image_files):
    matcher = _IgnoresCancel(count=50, delay=0.4)
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: matcher.calls == 1, timeout=3000)
    window.load_pair(str(image_files[2]), str(image_files[3]))
    wait_idle(qtbot, window)
    qtbot.wait(600)
    assert window.state.result.image_sizes == ((300, 200), (180, 260))


def test_cancel_button_stops_the_run(make_window, qtbot, image_files):
    matcher = FakeMatcher()
    matcher.gate.clear()
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: window.controls.cancel_button.isEnabled(), timeout=3000)
    window.controls.cancel_button.click()
    wait_idle(qtbot, window)
    assert window.state.result is None and not window.state.busy
    matcher.gate.set()


def test_no_weights_message_offers_the_baseline(make_window, qtbot, image_files):
    from core.errors import WeightsError

    def no_weights(*args, **kwargs):
        raise WeightsError("the weights 'zju-community/efficientloftr' are not in the local cache")

    window = make_window(no_weights)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    assert window.message_bar.isVisible()
    text = window.message_bar.label.text()
    assert "No usable EfficientLoFTR weights" in text and "Traceback" not in text
    assert window.message_bar.action.text() == "Use SIFT baseline"


def test_unreadable_image_is_a_message_and_keeps_the_pair(make_window, qtbot, image_files, tmp_path):
    window = make_window()
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    assert not window.load_pair(str(broken), str(image_files[2]))
    assert "broken.jpg" in window.last_error
    assert window.state.images[0].path == image_files[0] and window.state.result is not None


def test_exports_read_back_identical(make_window, qtbot, image_files, tmp_path):
    window = make_window(FakeMatcher(count=300))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    window.controls.spin.setValue(0.4)
    kept = window.state.result.subset(window.state.result.keep(0.4))
    for suffix in (".csv", ".json", ".npz"):
        path = tmp_path / f"matches{suffix}"
        assert window.export_matches(str(path))
        back = read_matches(path)
        np.testing.assert_array_equal(back.kpts0, kept.kpts0)
        np.testing.assert_array_equal(back.kpts1, kept.kpts1)
        np.testing.assert_array_equal(back.scores, kept.scores)
        assert back.provenance["threshold"] == pytest.approx(0.4)
        assert back.provenance["image0"] == str(image_files[0])
    png = tmp_path / "view.png"
    assert window.export_png(str(png))
    from PIL import Image

    with Image.open(png) as picture:
        assert picture.size == (320 + 8 + 320, 240)


def _matched_capturing_warnings(make_window, qtbot, image_files, monkeypatch):
    """A matched window whose warning dialogs are recorded instead of shown."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    window = make_window()
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
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
        ok = (
            window.export_png(str(folder / name))
            if name.endswith(".png")
            else window.export_matches(str(folder / name))
        )
        assert not ok
        assert f"cannot write {name}: Permission denied" in shown[-1]
    assert list(folder.iterdir()) == []


def test_failed_export_keeps_the_previous_file(make_window, qtbot, image_files, tmp_path, monkeypatch):
    window, shown = _matched_capturing_warnings(make_window, qtbot, image_files, monkeypatch)
    target = tmp_path / "matches.json"
    target.write_text("previous content")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    assert not window.export_matches(str(target))
    assert target.read_text() == "previous content"
    assert shown and "No space left on device" in shown[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".matches")] == []


def test_settings_persist_across_launches(make_window, qtbot):
    window = make_window()
    window.controls.resolution.setCurrentIndex(3)
    window.controls.geometry_model.setCurrentIndex(1)
    window.controls.spin.setValue(0.35)
    window.controls.weights.setText("/models/eloftr_outdoor.ckpt")
    window.close()
    again = make_window()
    assert again.controls.resolution.currentIndex() == 3
    assert again.controls.geometry_model.currentData() == "H"
    assert again.state.threshold == pytest.approx(0.35)
    assert again.controls.weights.text() == "/models/eloftr_outdoor.ckpt"


def test_slider_soak_many_thousand_moves(make_window, qtbot, image_files, qapp):
    """Thousands of signal emits: a PySide6 build that leaks references to True/None aborts here."""
    window = make_window(FakeMatcher(count=2000))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    rng = np.random.default_rng(1)
    for step, value in enumerate(rng.integers(0, 1001, 6000)):
        window.controls.slider.setValue(int(value))
        if step % 200 == 0:
            qapp.processEvents()
    window.controls.slider.setValue(500)
    qapp.processEvents()
    assert window.view.drawn_line_count() == window.state.visible_count()


def test_run_notes_reach_the_status_bar(make_window, qtbot, image_files):
    from dataclasses import replace

    base = FakeMatcher(count=20)

    def with_note(*args, **kwargs):
        result = base(*args, **kwargs)
        info = replace(result.info, notes=("large images: inference at 1344x1008 to stay within memory",))
        return replace(result, info=info)

    window = make_window(with_note)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    assert "to stay within memory" in window.statusBar().currentMessage()
