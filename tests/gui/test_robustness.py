"""Hostile files, races and random user operations in the window: no exception, consistent state, fast exit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher
from tests.hostile import build_corpus

ROOT = Path(__file__).resolve().parents[2]


def test_hostile_files_in_the_window(make_window, qtbot, image_files, tmp_path):
    window = make_window()
    load(qtbot, window, image_files[0], image_files[1])
    for name, path, (outcome, detail) in build_corpus(tmp_path / "hostile"):
        window.last_error = ""
        window.message_bar.hide()
        window.load_image_into(1, str(path), run=False)
        wait_idle(qtbot, window)
        if outcome == "loads":
            assert window.model.images[1].path == path and window.model.images[1].size == detail, name
            assert window.last_error == "", (name, window.last_error)
        else:
            assert window.model.images[1].path != path, name
            assert detail in window.last_error and "\n" not in window.last_error, (name, window.last_error)
            assert window.message_bar.isVisible()


def test_drop_of_a_hostile_pair_keeps_the_current_one(make_window, qtbot, image_files, tmp_path):
    window = make_window()
    load(qtbot, window, image_files[0], image_files[1])
    before = window.model.result
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    window.drop_files([str(empty), str(image_files[2])])
    wait_idle(qtbot, window)
    assert window.model.result is before and window.model.images[0].path == image_files[0]
    assert "empty.jpg: the file is empty" == window.last_error


def test_close_while_matching_exits_within_two_seconds(tmp_path):
    """A model stage that never checks for cancel must not keep the process alive after the window closes."""
    script = f"""
import os, sys, time, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["MATCH_INSPECTOR_SETTINGS_DIR"] = tempfile.mkdtemp()
sys.path.insert(0, {str(ROOT)!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.main_window import MainWindow

def stuck(*args, **kwargs):
    time.sleep(60)  # a long stage that ignores cancel

window = MainWindow(stuck)
window.show()
window.load_pair({str(ROOT / "resources/sample_pair_0.png")!r}, {str(ROOT / "resources/sample_pair_1.png")!r})

def close():
    print("closing at", time.time(), flush=True)
    window.close()

QTimer.singleShot(500, close)
app.exec()
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    ended = time.time()
    assert out.returncode == 0, out.stderr
    closing = float(out.stdout.split("closing at")[1].split()[0])
    assert ended - closing < 2.0, f"the process took {ended - closing:.2f} s to exit after the window closed"


def test_run_twice_and_options_during_a_run(make_window, qtbot, image_files):
    matcher = FakeMatcher(count=200, delay=0.3)
    window = make_window(matcher)
    window.load_pair(str(image_files[0]), str(image_files[1]))
    qtbot.waitUntil(lambda: window.model.busy, timeout=3000)
    window.runs.run()
    window.controls.resolution.setCurrentIndex(2)  # options change mid-run: restart with the new options
    window.controls.slider.setValue(100)
    wait_idle(qtbot, window)
    qtbot.wait(400)
    assert window.model.result is not None and not window.model.busy
    assert window.model.result_options.long_side == 840, "the result on screen ran with the new options"
    assert window.controls.pending_label.text() == ""
    assert window.view.drawn_line_count() == window.model.visible_count()


OPERATIONS = (
    "load_pair",
    "load_one",
    "swap",
    "run",
    "cancel",
    "slider",
    "spin",
    "colour",
    "layout",
    "geometry",
    "select",
    "step",
    "escape",
    "markers",
    "heatmap",
    "resolution",
    "keep_a",
    "histogram",
)


@pytest.mark.parametrize("seed", [7, 11, 23])
def test_stress_100_random_operations(make_window, qtbot, image_files, qapp, seed):
    rng = np.random.default_rng(seed)
    matcher = FakeMatcher(count=300, delay=0.02)
    window = make_window(matcher)
    c = window.controls
    steps_with_result = 0
    for step in range(100):
        operation = OPERATIONS[int(rng.integers(len(OPERATIONS)))]
        pick = [str(p) for p in rng.choice(image_files, 2, replace=False)]
        if operation == "load_pair":
            window.load_pair(*pick)
        elif operation == "load_one":
            window.load_image_into(int(rng.integers(2)), pick[0])
        elif operation == "swap":
            window.swap_images()
        elif operation == "run":
            window.runs.run()
        elif operation == "cancel":
            window.runs.cancel()
        elif operation == "slider":
            c.slider.setValue(int(rng.integers(0, 1001)))
        elif operation == "spin":
            c.spin.setValue(float(rng.uniform(0, 1)))
        elif operation == "colour":
            c.color_mode.setCurrentIndex(int(rng.integers(c.color_mode.count())))
        elif operation == "layout":
            c.layout_mode.setCurrentIndex(int(rng.integers(3)))
        elif operation == "geometry":
            c.geometry_model.setCurrentIndex(int(rng.integers(3)))
        elif operation == "select" and window.model.result is not None:
            window.model.select(int(rng.integers(-1, len(window.model.result))))
        elif operation == "step":
            window.model.step_selection(int(rng.choice([-1, 1])))
        elif operation == "escape":
            window.model.select(-1)
        elif operation == "markers":
            c.markers.setChecked(not c.markers.isChecked())
        elif operation == "heatmap":
            c.heatmap.setChecked(not c.heatmap.isChecked())
        elif operation == "resolution":
            c.resolution.setCurrentIndex(int(rng.integers(c.resolution.count())))
        elif operation == "keep_a":
            window.model.keep_as_a()
        elif operation == "histogram":
            window.histogram.marker.setValue(float(rng.uniform(0, 1)))
        qapp.processEvents()
        if step % 4 == 0:
            qtbot.wait(60)  # now and then a pause long enough for a run to finish
        _check_consistent(window, f"step {step}: {operation}")
        steps_with_result += window.model.result is not None
    wait_idle(qtbot, window)
    assert steps_with_result > 20, "the operations should mostly run on a matched pair"
    assert matcher.calls > 5
    qtbot.wait(300)
    _check_consistent(window, "end")


def _check_consistent(window, where: str) -> None:
    model = window.model
    result = model.result
    if result is not None:
        shown = tuple(image.size for image in model.images)
        assert result.image_sizes == shown, f"{where}: result belongs to another pair"
        assert window.view.drawn_line_count() == model.drawn_line_count() == model.visible_count(), where
        assert window.controls.count_label.text().startswith(f"{model.visible_count():,} of"), where
        fit = model.geometry_fit
        assert fit is None or fit.result_id == model.result_id, f"{where}: a fit for another result"
    else:
        assert window.view.drawn_line_count() == 0, where
    assert model.selected == -1 or model.is_visible(model.selected), where
