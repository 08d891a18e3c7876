"""The real core in the matcher's child process, with small random weights (tests/reference.py), driven like a user."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.analysis.synthetic import textured_scene, warp
from core.formats.match_files import read_matches
from tests.gui.conftest import load, wait_idle


def test_drop_match_filter_select_export(make_window, qtbot, tmp_path, random_weights):
    scene = textured_scene(300, 400, 21)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    Image.fromarray(scene).save(paths[0])
    Image.fromarray(warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))).save(paths[1])

    from gui.main_window import MainWindow

    window = make_window(None)  # the real core.matchers.match.match_pair
    assert isinstance(window, MainWindow)
    # No cached Hub weights in offline mode: the window starts with SIFT standing in; the user picks the model.
    window.controls.matcher.setCurrentIndex(window.controls.matcher.findData("eloftr"))
    window.controls.weights.setText(random_weights)
    window.controls.weights.editingFinished.emit()
    window.controls.resolution.setCurrentIndex(0)  # long side 480
    window.controls.internal_threshold.setValue(0.0)
    window.drop_files([str(p) for p in paths])
    wait_idle(qtbot, window, timeout=120000)
    result = window.model.result
    assert result is not None, window.last_error
    assert result.info.matcher == "eloftr" and result.info.weights_source == random_weights
    assert len(result) > 10
    window.controls.spin.setValue(0.0)
    total = window.view.drawn_line_count()
    assert total == len(result)
    levels = np.unique(np.round(result.scores, 3))
    assert len(levels) > 1, "random weights should give a spread of scores"
    window.controls.spin.setValue(float(levels[len(levels) // 2]))
    assert 0 < window.view.drawn_line_count() == window.model.visible_count() < total
    window.controls.spin.setValue(0.0)
    window.click_match(3)
    assert window.model.selected >= 0
    assert window.inspector.fields["index"].text() == str(window.model.selected)
    out = tmp_path / "m.npz"
    assert window.exports.export_matches(str(out))
    back = read_matches(out)
    np.testing.assert_array_equal(back.kpts0, result.kpts0)
    np.testing.assert_array_equal(back.kpts1, result.kpts1)
    np.testing.assert_array_equal(back.scores, result.scores)
    assert back.provenance["weights_source"] == random_weights
    assert back.provenance["inference_sizes"] == [[352, 480], [352, 480]]


def test_where_else_could_it_match_on_a_real_run(make_window, qtbot, tmp_path, random_weights):
    """The ambiguity view: the selected match's coarse confidence over image 1, drawn over it, with its peaks."""
    scene = textured_scene(256, 320, 5)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    Image.fromarray(scene).save(paths[0])
    Image.fromarray(warp(scene, np.array([[1, 0, 4.0], [0, 1, 3.0], [0, 0, 1]]))).save(paths[1])
    window = make_window(None)
    # No cached Hub weights in offline mode: the window starts with SIFT standing in; the user picks the model.
    window.controls.matcher.setCurrentIndex(window.controls.matcher.findData("eloftr"))
    window.controls.weights.setText(random_weights)
    window.controls.weights.editingFinished.emit()
    window.controls.resolution.setCurrentIndex(0)
    window.drop_files([str(p) for p in paths])
    wait_idle(qtbot, window, timeout=120000)
    model = window.model
    assert model.result is not None and model.result.coarse is not None, window.last_error
    window.controls.ambiguity.setChecked(True)
    model.step_selection(1)
    qtbot.waitUntil(lambda: model.ambiguity is not None, timeout=20000)
    ambiguity = model.ambiguity
    rows, cols = model.result.coarse.grid1
    assert ambiguity.confidence.shape == (rows, cols)
    assert window.view.ambiguity_item.isVisible() and window.view.ambiguity_cell.isVisible()
    text = window.inspector.fields["ambiguity"].text()
    assert text.startswith("unique") or "peaks" in text, text
    # Another selection replaces the map; turning the view off hides it.
    model.step_selection(1)
    qtbot.waitUntil(lambda: model.ambiguity is not None and model.ambiguity is not ambiguity, timeout=20000)
    window.controls.ambiguity.setChecked(False)
    assert model.ambiguity is None and not window.view.ambiguity_item.isVisible()


def test_a_matcher_process_that_dies_is_a_message_and_the_next_run_works(make_window, qtbot, image_files, monkeypatch):
    """The window's matcher process dies of SIGFPE on img0.png (the test-only variable), as a crash in the matcher's
    native code would: the window says so in one line, and the next run starts a new process."""
    from core.matchers.match import CRASH_TEST_VARIABLE
    from core.types import MatchOptions

    monkeypatch.setenv(CRASH_TEST_VARIABLE, "img0.png")  # the child inherits it when the first run starts it
    window = make_window(None)
    window.model.set_match_options(MatchOptions(matcher="sift"))  # no weights needed
    load(qtbot, window, image_files[0], image_files[1], timeout=60000)
    assert window.model.result is None and window.message_bar.isVisible()
    died = "Failed: the matcher process died (signal SIGFPE); the next run starts a new one."
    assert window.message_bar.label.text() == died
    load(qtbot, window, image_files[1], image_files[1], timeout=60000)
    assert window.model.result is not None and len(window.model.result) > 10, window.last_error
