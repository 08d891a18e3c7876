"""Every geometry setting re-fits at once: label, colours and exported inlier flags follow it, no stale fit is shown."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import Qt

from tests.gui.conftest import load
from tests.gui.fakes import NoisyMatcher


def type_into(qtbot, box, text: str) -> None:
    """Select the box's number, type a new one and press Enter, as a user does."""
    box.setFocus()
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), text)
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)


def choose(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def _window(make_window, qtbot, image_files):
    window = make_window(NoisyMatcher(count=400))
    load(qtbot, window, image_files[0], image_files[1])
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    choose(window.controls.color_mode, "inlier")
    return window


def _fitted(qtbot, window) -> str:
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=1000)  # within a second
    return window.controls.geometry_label.text()


def _exported_inliers(window, path) -> np.ndarray:
    assert window.exports.export_matches(str(path))
    with open(path, newline="") as handle:
        return np.array([row["inlier"] == "1" for row in csv.DictReader(handle)])


def _inlier_count(label: str) -> int:
    return int(label.split(":")[1].split("inliers")[0].replace(",", ""))


def test_inlier_threshold_typed_refits_label_colours_and_export(make_window, qtbot, image_files, tmp_path):
    window = _window(make_window, qtbot, image_files)
    controls = window.controls
    threshold = window.model.threshold
    before = controls.geometry_label.text()
    before_flags = _exported_inliers(window, tmp_path / "before.csv")
    assert before.startswith("F: ") and _inlier_count(before) == before_flags.sum()

    type_into(qtbot, controls.geometry_threshold, "0.5")
    assert controls.geometry_label.text() == "re-fitting F…", "the old fit is not shown as current"
    assert window.model.line_colors().legend.title != "geometry", "no inlier colours from a stale fit"
    after = _fitted(qtbot, window)
    assert window.model.threshold == threshold, "no score-threshold change was needed"
    assert _inlier_count(after) < _inlier_count(before) / 2, (before, after)
    flags = _exported_inliers(window, tmp_path / "after.csv")
    assert flags.sum() == _inlier_count(after) < before_flags.sum()
    colours = window.model.line_colors()
    visible = window.model.visible_mask()
    np.testing.assert_array_equal((colours.index == 0)[visible], flags)


def test_choosing_homography_refits_as_h(make_window, qtbot, image_files, tmp_path):
    window = _window(make_window, qtbot, image_files)
    choose(window.controls.geometry_model, "H")
    assert window.controls.geometry_label.text() == "re-fitting H…"
    assert _fitted(qtbot, window).startswith("H: ")
    path = tmp_path / "h.json"
    assert window.exports.export_matches(str(path))
    import json

    provenance = json.loads(path.read_text())["provenance"]
    assert provenance["geometry"]["model"] == "H"


def test_confidence_and_iterations_refit(make_window, qtbot, image_files):
    window = _window(make_window, qtbot, image_files)
    controls = window.controls
    type_into(qtbot, controls.geometry_confidence, "0.9")
    assert controls.geometry_label.text() == "re-fitting F…"
    _fitted(qtbot, window)
    assert window.model.current_fit().options.confidence == 0.9
    type_into(qtbot, controls.geometry_iters, "50")
    assert controls.geometry_label.text() == "re-fitting F…"
    label = _fitted(qtbot, window)
    assert window.model.current_fit().options.max_iters == 50
    assert label.startswith("F")
