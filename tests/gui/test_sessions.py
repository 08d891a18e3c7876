from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import wait_idle
from tests.gui.fakes import FakeMatcher


def _prepared(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=400))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("H"))
    window.load_pair(str(image_files[0]), str(image_files[1]))
    wait_idle(qtbot, window)
    window.controls.spin.setValue(0.3)
    qtbot.waitUntil(window.state.geometry_is_current, timeout=10000)
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("inlier"))
    window.controls.layout_mode.setCurrentIndex(window.controls.layout_mode.findData("stacked"))
    window.view.view.setRange(xRange=(10, 200), yRange=(20, 150), padding=0)
    qtbot.wait(50)  # the aspect lock settles the range on the next update
    window.state.select(7)
    return window


def test_session_reopens_identical_arrays_and_view_without_the_model(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    path = window.save_session(str(tmp_path / "pair"))
    (sx0, sx1), (sy0, sy1) = window.view.view.viewRange()
    assert path is not None and path.endswith(".misession")
    before = window.state.result
    matcher = FakeMatcher()
    again = make_window(matcher)
    assert again.open_session(path)
    assert matcher.calls == 0, "opening a session never runs the model"
    after = again.state.result
    for name in ("kpts0", "kpts1", "scores"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    assert after.info == before.info
    assert again.state.threshold == pytest.approx(0.3)
    assert again.state.selected == 7
    assert again.view.color_mode == "inlier" and again.view.layout_mode == "stacked"
    np.testing.assert_allclose(again.state.geometry.matrix, window.state.geometry.matrix)
    np.testing.assert_array_equal(again.state.geometry.inliers, window.state.geometry.inliers)
    (x0, x1), (y0, y1) = again.view.view.viewRange()
    # The same region is in view (the aspect lock may widen one axis if the new window's view is shaped otherwise).
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(((sx0 + sx1) / 2, (sy0 + sy1) / 2), abs=1.0)
    assert x0 <= sx0 + 1 and x1 >= sx1 - 1 and y0 <= sy0 + 1 and y1 >= sy1 - 1
    assert not again.message_bar.isVisible()


def test_session_warns_when_an_image_changed(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    path = window.save_session(str(tmp_path / "pair.misession"))
    from PIL import Image

    with Image.open(image_files[1]) as image:
        changed = np.asarray(image).copy()
    changed[:10] = 0
    Image.fromarray(changed).save(image_files[1])
    again = make_window()
    assert again.open_session(path)
    assert again.message_bar.isVisible() and "img1.png" in again.message_bar.label.text()


def test_broken_session_file_is_a_message(make_window, tmp_path):
    path = tmp_path / "bad.misession"
    path.write_bytes(b"not a zip")
    window = make_window()
    assert not window.open_session(str(path))
    assert "not a readable session file" in window.last_error


def test_export_reopens_on_its_images(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    out = tmp_path / "m.json"
    assert window.export_matches(str(out))
    kept = window.state.result.subset(window.state.result.keep(0.3))
    again = make_window()
    assert again.open_matches_file(str(out))
    np.testing.assert_array_equal(again.state.result.kpts0, kept.kpts0)
    np.testing.assert_array_equal(again.state.result.scores, kept.scores)
    assert again.state.threshold == pytest.approx(0.3)
    assert again.view.drawn_line_count() == len(kept)
