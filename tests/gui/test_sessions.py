from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher


def _prepared(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=400))
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("H"))
    load(qtbot, window, image_files[0], image_files[1])
    window.model.keep_as_a("baseline")
    window.model.set_a_threshold(0.1)
    window.runs.run()
    wait_idle(qtbot, window)
    window.controls.spin.setValue(0.3)
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("inlier"))
    window.controls.layout_mode.setCurrentIndex(window.controls.layout_mode.findData("stacked"))
    window.controls.line_budget.setValue(250)
    window.view.view.setRange(xRange=(10, 200), yRange=(20, 150), padding=0)
    qtbot.wait(50)  # the aspect lock settles the range on the next update
    window.model.select(7)
    return window


def test_session_reopens_arrays_run_a_and_view_without_the_model(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    path = window.sessions.save(str(tmp_path / "pair"))
    (sx0, sx1), (sy0, sy1) = window.view.view.viewRange()
    assert path is not None and path.endswith(".misession")
    before = window.model.result
    matcher = FakeMatcher()
    again = make_window(matcher)
    assert again.sessions.open(path)
    wait_idle(qtbot, again)
    assert matcher.calls == 0, "opening a session never runs the model"
    after = again.model.result
    for name in ("kpts0", "kpts1", "scores"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    assert after.info == before.info
    assert again.model.threshold == pytest.approx(0.3)
    assert again.model.selected == 7
    assert again.model.display.color_mode == "inlier" and again.view.layout_mode == "stacked"
    assert again.model.display.line_budget == 250
    np.testing.assert_allclose(again.model.current_fit().geometry.matrix, window.model.current_fit().geometry.matrix)
    np.testing.assert_array_equal(
        again.model.current_fit().geometry.inliers, window.model.current_fit().geometry.inliers
    )
    run_a = again.model.run_a
    assert run_a is not None and run_a.label == "baseline" and run_a.threshold == pytest.approx(0.1)
    np.testing.assert_array_equal(run_a.result.kpts0, window.model.run_a.result.kpts0)
    assert again.model.comparison().lost == window.model.comparison().lost
    (x0, x1), (y0, y1) = again.view.view.viewRange()
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(((sx0 + sx1) / 2, (sy0 + sy1) / 2), abs=1.0)
    assert not again.message_bar.isVisible()


def test_session_warns_when_an_image_changed(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    path = window.sessions.save(str(tmp_path / "pair.misession"))
    from PIL import Image

    with Image.open(image_files[1]) as image:
        changed = np.asarray(image).copy()
    changed[:10] = 0
    Image.fromarray(changed).save(image_files[1])
    again = make_window()
    assert again.sessions.open(path)
    wait_idle(qtbot, again)
    assert again.message_bar.isVisible() and "img1.png" in again.message_bar.label.text()


def test_broken_session_file_is_a_message(make_window, tmp_path):
    path = tmp_path / "bad.misession"
    path.write_bytes(b"not a zip")
    window = make_window()
    assert not window.sessions.open(str(path))
    assert "not a readable session file" in window.last_error


def test_export_reopens_on_its_images(make_window, qtbot, image_files, tmp_path):
    window = _prepared(make_window, qtbot, image_files)
    out = tmp_path / "m.json"
    assert window.exports.export_matches(str(out))
    kept = window.model.result.subset(window.model.result.keep(0.3))
    again = make_window()
    assert again.sessions.open_matches_file(str(out))
    wait_idle(qtbot, again)
    np.testing.assert_array_equal(again.model.result.kpts0, kept.kpts0)
    np.testing.assert_array_equal(again.model.result.scores, kept.scores)
    assert again.model.threshold == pytest.approx(0.3)
    assert again.model.visible_count() == len(kept)
