"""Compare matchers in the window, as a user does it: tick matchers, run them, read the table, move the threshold,
show two of them as A/B, click a match to see who found it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from core.analysis.geometry import symmetric_transfer_error
from core.analysis.synthetic import homography_pair
from core.formats.drawing import GAINED_COLOR, LOST_COLOR, SHARED_COLOR
from core.matchers import registry
from core.matchers.match import match_pair
from core.matchers.registry import matcher_spec
from core.types import MatchResult
from tests.gui.conftest import load, wait_idle
from tests.gui.test_rendering import _render


class Matchers:
    """The real matchers (core.matchers.match.match_pair), run on the window's worker thread; remembers what it ran."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, image0, image1, options, progress=None, cancelled=None) -> MatchResult:
        self.asked.append(options.matcher)
        return match_pair(image0, image1, options, progress, cancelled)


@pytest.fixture
def compared(make_window, qtbot, tmp_path):
    """A window with a pair under a known homography loaded and the Compare matchers panel open, SIFT and XFeat
    ticked (both run offline)."""
    pair = homography_pair(240, 320, seed=5, strength=0.05)
    paths = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(pair.image0).save(paths[0])
    Image.fromarray(pair.image1).save(paths[1])
    matchers = Matchers()
    window = make_window(matchers)
    window.resize(1500, 950)
    load(qtbot, window, *paths, run=False)
    qtbot.mouseClick(window.controls.matchers_button, Qt.MouseButton.LeftButton)
    assert window.matchers_dock.isVisible()
    window.model.matchers.choice.matchers = ("xfeat", "sift")
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("H"))
    return window, matchers, pair.homography


def _expected_counts(result: MatchResult, threshold: float, homography: np.ndarray) -> tuple[int, int]:
    kept = result.scores >= threshold
    error = symmetric_transfer_error(homography, result.kpts0[kept].astype(float), result.kpts1[kept].astype(float))
    return int(kept.sum()), int((error <= 3.0).sum())


def test_tick_run_read_the_table_and_follow_the_threshold(compared, qtbot):
    window, matchers, homography = compared
    panel, state = window.matcher_panel, window.model.matchers
    # Untick and tick again with the mouse: the choice follows each click.
    qtbot.mouseClick(panel.checks["xfeat"], Qt.MouseButton.LeftButton)
    assert state.choice.matchers == ("sift",) and not panel.checks["xfeat"].isChecked()
    qtbot.mouseClick(panel.checks["xfeat"], Qt.MouseButton.LeftButton)
    assert state.choice.matchers == ("xfeat", "sift")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 60000)
    assert matchers.asked == ["xfeat", "sift"]  # each matcher ran once, through the window's worker
    texts = panel.row_texts()
    assert [row[0] for row in texts] == [matcher_spec("xfeat").label, matcher_spec("sift").label]
    assert not panel.is_stale() and "figures for threshold 0.200, H at 3 px" in panel.status.text()
    for row, name in zip(texts, ("xfeat", "sift")):
        result = state.runs[name].result
        matches, consistent = _expected_counts(result, 0.2, homography)
        assert row[1] == f"{matches:,}" and matches > 20
        inliers = int(row[2].replace(",", ""))
        assert abs(inliers - consistent) <= max(2, 0.02 * matches), (name, inliers, consistent)
        assert row[3] == f"{100 * inliers / matches:.1f}%" and row[4] == "reliable"
        assert float(row[6]) >= 0.0
    # A new threshold: the old figures are greyed and said stale at once, the new ones follow.
    window.controls.spin.setValue(0.6)
    assert panel.is_stale() and "stale" in panel.status.text()
    wait_idle(qtbot, window)
    assert not panel.is_stale() and "threshold 0.600" in panel.status.text()
    for row, name in zip(panel.row_texts(), ("xfeat", "sift")):
        matches, _ = _expected_counts(state.runs[name].result, 0.6, homography)
        assert row[1] == f"{matches:,}"
    # New geometry options: the same.
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    assert panel.is_stale()
    wait_idle(qtbot, window)
    assert [row[4] for row in panel.row_texts()] == ["no model", "no model"]


def test_two_matchers_as_a_b_and_who_found_a_clicked_match(compared, qtbot):
    window, _, _ = compared
    panel, model = window.matcher_panel, window.model
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 60000)
    panel.a_choice.setCurrentIndex(panel.a_choice.findData("sift"))
    panel.b_choice.setCurrentIndex(panel.b_choice.findData("xfeat"))
    qtbot.mouseClick(panel.ab_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    sift_label = matcher_spec("sift").label
    assert model.run_a.label == sift_label and model.result.info.matcher == "xfeat"
    assert model.display.color_mode == "compare"
    comparison = model.comparison()
    assert comparison is not None and comparison.shared + comparison.gained == model.visible_count()
    assert comparison.shared > 0 and comparison.gained > 0
    assert f"A = {sift_label}" in window.controls.compare_label.text()
    # Shared and gained lines are drawn in their colours, run A's lost ones in theirs.
    model.set_display(line_budget=0)
    wait_idle(qtbot, window)
    picture = _render(window).reshape(-1, 3).astype(int)
    for colour in (SHARED_COLOR, GAINED_COLOR, LOST_COLOR):
        assert (np.abs(picture - np.array(colour)).max(axis=1) <= 30).sum() > 100, colour
    # A click on a line: the inspector says who found that match.
    visible = np.flatnonzero(model.visible_mask())
    for wanted, words in ((True, "and B (xfeat): shared"), (False, "only B (xfeat): gained")):
        index = int(next(i for i in visible if bool(comparison.shared_b[i]) == wanted))
        model.select(index)
        assert words in window.inspector.fields["found by"].text()
        window.click_match(int(model.selected))  # the same through the view's nearest-line pick
        picked = model.selected
        expected = "shared" if comparison.shared_b[picked] else "gained"
        assert window.inspector.fields["found by"].text().endswith(expected)


def test_matchers_that_cannot_run_say_why_and_the_others_run(make_window, qtbot, image_files, monkeypatch):
    """ALIKED + LightGlue has no torchvision here: it cannot be ticked and says why. EfficientLoFTR has no weights
    (offline, empty cache): it runs, fails, and its row says why in one line. XFeat and DISK + LightGlue run in the
    window's real matcher process."""
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "torchvision" else real(name))
    window = make_window(None)
    load(qtbot, window, image_files[0], image_files[1], run=False)
    panel, state = window.matcher_panel, window.model.matchers
    reason = matcher_spec("aliked-lightglue").reason
    assert "torchvision" in reason
    assert not panel.checks["aliked-lightglue"].isEnabled() and panel.checks["aliked-lightglue"].toolTip() == reason
    assert "aliked-lightglue" not in state.choice.matchers
    running = ["xfeat", "disk-lightglue"] if matcher_spec("disk-lightglue").available else ["xfeat"]
    state.choice.matchers = ("eloftr", *running, "aliked-lightglue")  # e.g. restored from an earlier session
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 180000)
    rows = {row[0]: row for row in panel.row_texts()}
    labels = [matcher_spec(name).label for name in running]
    assert list(rows) == ["EfficientLoFTR", *labels, matcher_spec("aliked-lightglue").label]
    assert rows["EfficientLoFTR"][1] == "–" and rows["EfficientLoFTR"][-1].startswith("failed: No usable")
    assert rows[matcher_spec("aliked-lightglue").label][-1] == f"unavailable: {reason}"
    for label in labels:
        assert int(rows[label][1].replace(",", "")) > 0
    assert panel.ab_button.isEnabled() == (len(running) > 1)


def test_a_new_pair_drops_the_comparison(compared, qtbot, image_files):
    window, _, _ = compared
    qtbot.mouseClick(window.matcher_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 60000)
    assert window.matcher_panel.table.rowCount() == 2
    load(qtbot, window, image_files[0], image_files[1], run=False)
    assert window.matcher_panel.table.rowCount() == 0 and window.model.matchers.runs == {}


def test_in_a_browsed_run_rematch_takes_any_matcher_and_the_table_has_pose_errors(make_window, qtbot, tmp_path):
    """A COLMAP run of rendered views (our SIFT batch) with the true cameras and poses in sparse/0 beside it: the
    pair re-matched by XFeat, chosen beside the button, and the comparison's pose errors against that model."""
    pytest.importorskip("pycolmap")
    from core.cli import run_cli
    from tests.core.test_cli_compare import _write_reference_model
    from tests.rendered_scene import render_scene

    scene = render_scene(count=3, size=(360, 480), seed=0)
    paths = scene.write(tmp_path / "images")
    names = [path.name for path in paths]
    (tmp_path / "pairs.txt").write_text(f"{names[0]} {names[1]}\n")
    argv = ["batch", "--pairs", str(tmp_path / "pairs.txt"), "--images", str(tmp_path / "images")]
    assert (
        run_cli([*argv, "-o", str(tmp_path / "run"), "--matcher", "sift", "--format", "colmap", "--no-progress"]) == 0
    )
    _write_reference_model(tmp_path / "run" / "sparse" / "0", scene.views, names)
    window = make_window(Matchers())
    assert window.matching_run.open_path(str(tmp_path / "run" / "database.db"), str(tmp_path / "images"))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=30000)
    model, docks = window.model, window.matching_run
    stored = model.result
    # Re-match with the matcher chosen beside the button.
    docks.rematch_matcher.setCurrentIndex(docks.rematch_matcher.findData("xfeat"))
    assert model.match_options.matcher == "xfeat" and window.controls.matcher.currentData() == "xfeat"
    qtbot.mouseClick(docks.rematch, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.result is not stored and window.is_idle(), timeout=60000)
    assert model.result.info.matcher == "xfeat" and model.run_a.result is stored
    assert window.run_status.info.text().startswith("xfeat · ")
    # Compare matchers on this pair: the pose error column comes from the model beside the run.
    window.show_matcher_panel()
    model.matchers.choice.matchers = ("xfeat", "sift")
    qtbot.mouseClick(window.matcher_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 60000)
    assert "pose vs COLMAP model 0" in window.matcher_panel.status.text()
    rows = {row[0]: row for row in window.matcher_panel.row_texts()}
    xfeat = rows[matcher_spec("xfeat").label]
    assert xfeat[5] != "–" and float(xfeat[5]) < 3.0, xfeat


def test_cancel_and_a_match_meanwhile_stop_the_comparison_and_keep_what_finished(make_window, qtbot, image_files):
    from tests.gui.fakes import FakeMatcher

    slow = FakeMatcher(count=200, delay=0.6)
    window = make_window(slow)
    load(qtbot, window, image_files[0], image_files[1], run=False)
    window.show_matcher_panel()
    panel, state = window.matcher_panel, window.model.matchers
    state.choice.matchers = ("xfeat", "xfeat-lighterglue", "sift")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "xfeat" in state.runs, timeout=10000)  # the first one finished
    assert panel.cancel_button.isEnabled() and "running" in panel.status.text()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert list(state.runs) == ["xfeat"] and state.running is None and not panel.cancel_button.isEnabled()
    assert [row[0] for row in panel.row_texts()] == [matcher_spec("xfeat").label]
    # Again, and Match on the pair meanwhile: the worker is the Match button's now, the comparison stops.
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "xfeat" in state.runs, timeout=10000)
    qtbot.mouseClick(window.controls.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.model.result is not None and state.running is None
    assert list(state.runs) == ["xfeat"]


def test_eloftr_with_weights_and_lighterglue_in_the_table(compared, qtbot, random_weights):
    """EfficientLoFTR (calibrated random weights: a real forward pass) and XFeat + LighterGlue through the panel; the
    weights chosen in the Matcher controls are the ones the comparison runs with."""
    window, matchers, _ = compared
    model = window.model
    window.controls.weights.setText(random_weights)
    window.controls.weights.editingFinished.emit()
    assert model.match_options.weights == random_weights
    model.matchers.choice.matchers = ("eloftr", "xfeat-lighterglue")
    qtbot.mouseClick(window.matcher_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, 180000)
    assert matchers.asked == ["eloftr", "xfeat-lighterglue"]
    runs = model.matchers.runs
    assert runs["eloftr"].options.weights == random_weights and runs["eloftr"].result.info.matcher == "eloftr"
    for row, name in zip(window.matcher_panel.row_texts(), ("eloftr", "xfeat-lighterglue")):
        kept = int((runs[name].result.scores >= model.threshold).sum())
        assert row[0] == matcher_spec(name).label and row[1] == f"{kept:,}" and row[-1] == "", row
