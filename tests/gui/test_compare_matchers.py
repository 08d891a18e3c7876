"""Compare matchers in the window, as a user does it: tick matchers, run them, read the table, move the threshold,
show two of them as A/B, click a match to see who found it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from core.analysis.geometry import symmetric_transfer_error
from core.analysis.synthetic import homography_pair
from core.formats.drawing import GAINED_COLOR, SHARED_COLOR
from core.matchers.match import match_pair
from core.types import MatchResult, RunInfo
from tests.gui.conftest import load, wait_idle
from tests.gui.test_rendering import _isolated, _midpoint, _render, _widget_point


class TwoMatchers:
    """Real SIFT, and for "eloftr" a stand-in trained matcher: the pair's true correspondences (known homography),
    with sub-pixel noise, at every other SIFT keypoint and on a grid, plus 15% wrong matches scored lower."""

    def __init__(self, homography: np.ndarray) -> None:
        self.homography = homography
        self.asked: list[str] = []

    def __call__(self, image0, image1, options, progress=None, cancelled=None) -> MatchResult:
        self.asked.append(options.matcher)
        if options.matcher == "sift":
            return match_pair(image0, image1, options, progress, cancelled)
        rng = np.random.default_rng(7)
        (h0, w0), (h1, w1) = image0.size, image1.size
        from dataclasses import replace

        sift = match_pair(image0, image1, replace(options, matcher="sift"))
        xs, ys = np.meshgrid(np.arange(8, w0 - 8, 24.0), np.arange(8, h0 - 8, 24.0))
        kpts0 = np.r_[sift.kpts0[::2].astype(float), np.column_stack([xs.ravel(), ys.ravel()])]
        mapped = np.c_[kpts0, np.ones(len(kpts0))] @ self.homography.T
        kpts1 = mapped[:, :2] / mapped[:, 2:] + rng.normal(0, 0.3, (len(kpts0), 2))
        inside = (kpts1[:, 0] >= 0) & (kpts1[:, 0] < w1) & (kpts1[:, 1] >= 0) & (kpts1[:, 1] < h1)
        kpts0, kpts1 = kpts0[inside], kpts1[inside]
        wrong = (rng.random(len(kpts0)) < 0.15) & (np.arange(len(kpts0)) >= len(sift.kpts0[::2]))
        kpts1[wrong] = rng.uniform([0, 0], [w1 - 1, h1 - 1], (int(wrong.sum()), 2))
        scores = np.where(wrong, rng.uniform(0.05, 0.5, len(kpts0)), rng.uniform(0.3, 1.0, len(kpts0)))
        order = np.argsort(-scores, kind="stable")
        info = RunInfo("eloftr", "stand-in", "cpu", "fp32", ((h0, w0), (h1, w1)), 0.05, {"load": 0.0})
        return MatchResult(
            kpts0[order].astype(np.float32),
            kpts1[order].astype(np.float32),
            scores[order].astype(np.float32),
            ((h0, w0), (h1, w1)),
            info,
        )


@pytest.fixture
def compared(make_window, qtbot, tmp_path, monkeypatch):
    """A window with the pair loaded, both matchers available (EfficientLoFTR's weights stood in for)."""
    import core.matchers.registry

    monkeypatch.setattr(core.matchers.registry, "_eloftr_reason", lambda weights=None: "")
    pair = homography_pair(240, 320, seed=5, strength=0.05)
    paths = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(pair.image0).save(paths[0])
    Image.fromarray(pair.image1).save(paths[1])
    matchers = TwoMatchers(pair.homography)
    window = make_window(matchers)
    window.resize(1500, 950)
    load(qtbot, window, *paths, run=False)
    qtbot.mouseClick(window.controls.matchers_button, Qt.MouseButton.LeftButton)
    assert window.matchers_dock.isVisible()
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
    qtbot.mouseClick(panel.checks["eloftr"], Qt.MouseButton.LeftButton)
    assert state.choice.matchers == ("sift",)
    qtbot.mouseClick(panel.checks["eloftr"], Qt.MouseButton.LeftButton)
    assert state.choice.matchers == ("eloftr", "sift")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert sorted(matchers.asked) == ["eloftr", "sift"]  # each matcher ran once, through the window's worker
    texts = panel.row_texts()
    assert [row[0] for row in texts] == ["EfficientLoFTR", "SIFT baseline (no weights)"]
    assert not panel.is_stale() and "figures for threshold 0.200, H at 3 px" in panel.status.text()
    for row, name in zip(texts, ("eloftr", "sift")):
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
    for row, name in zip(panel.row_texts(), ("eloftr", "sift")):
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
    wait_idle(qtbot, window)
    panel.a_choice.setCurrentIndex(panel.a_choice.findData("sift"))
    panel.b_choice.setCurrentIndex(panel.b_choice.findData("eloftr"))
    qtbot.mouseClick(panel.ab_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert model.run_a.label == "SIFT baseline (no weights)" and model.result.info.matcher == "eloftr"
    assert model.display.color_mode == "compare"
    comparison = model.comparison()
    assert comparison is not None and comparison.shared + comparison.gained == model.visible_count()
    assert comparison.shared > 0 and comparison.gained > 0
    assert "A = SIFT baseline (no weights)" in window.controls.compare_label.text()
    # One shared and one gained match: drawn in their colours; clicked, the inspector says who found it.
    model.set_display(line_width=3.0, opacity=1.0, line_budget=0)
    model.view.layout = "side"
    model.set_threshold(0.8)  # fewer lines, so that some stand apart
    window.controls.a_follows_b.click()  # and fewer of run A's lost lines over them
    wait_idle(qtbot, window)
    comparison = model.comparison()
    visible = np.flatnonzero(model.visible_mask())
    picture = _render(window)
    for wanted, colour, words in ((True, SHARED_COLOR, "and B (eloftr): shared"), (False, GAINED_COLOR, "only B")):
        candidates = np.array([i for i in visible if bool(comparison.shared_b[i]) == wanted])
        apart = next((a for c in (6, 4, 3) if (a := _isolated(window, candidates, visible, clearance=c))), [])
        assert apart, f"no isolated {'shared' if wanted else 'gained'} line to check"

        def in_colour(index: int, colour=colour) -> bool:
            """Mostly in `colour` along the line (run A's lost lines, drawn too, may cross or cover it)."""
            points = (_widget_point(window, _midpoint(window, index, t)) for t in np.linspace(0.2, 0.8, 13))
            return sum(np.abs(picture[y, x].astype(int) - np.array(colour)).max() <= 40 for x, y in points) >= 8

        drawn = [index for index in apart if in_colour(index)]
        assert len(drawn) >= len(apart) / 2, (len(drawn), len(apart))
        index = drawn[0]
        window.click_match(index)
        assert model.selected == index
        assert words in window.inspector.fields["found by"].text()


def test_a_matcher_that_cannot_run_says_why_and_the_others_run(make_window, qtbot, image_files):
    """Offline without weights (the tests' state), EfficientLoFTR is unavailable: it cannot be ticked, says why,
    and a comparison runs the rest."""
    from core.matchers.registry import matcher_spec

    window = make_window(lambda a, b, options, progress=None, cancelled=None: match_pair(a, b, options))
    load(qtbot, window, image_files[0], image_files[1], run=False)
    panel, state = window.matcher_panel, window.model.matchers
    reason = matcher_spec("eloftr").reason
    assert not panel.checks["eloftr"].isEnabled() and panel.checks["eloftr"].toolTip() == reason
    assert state.choice.matchers == ("sift",)
    state.choice.matchers = ("eloftr", "sift")  # e.g. restored from an earlier session
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    rows = panel.row_texts()
    assert rows[0][0] == "EfficientLoFTR" and rows[0][1] == "–" and rows[0][-1] == f"unavailable: {reason}"
    assert rows[1][0].startswith("SIFT") and int(rows[1][1].replace(",", "")) > 0
    assert not panel.ab_button.isEnabled()  # one result: nothing to compare with


def test_a_new_pair_drops_the_comparison(compared, qtbot, image_files):
    window, _, _ = compared
    qtbot.mouseClick(window.matcher_panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.matcher_panel.table.rowCount() == 2
    load(qtbot, window, image_files[0], image_files[1], run=False)
    assert window.matcher_panel.table.rowCount() == 0 and window.model.matchers.runs == {}
