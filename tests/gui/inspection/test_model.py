"""The inspection model on its own: plain Python and numpy, no Qt (its import rule is checked in test_boundaries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.analysis.compare import find_counterparts
from core.analysis.geometry import GeometryOptions, fit_and_apply
from core.formats.images import LoadedImage
from core.types import MatchOptions, MatchResult, RunInfo
from gui.inspection import GeometryFit, InspectionModel, Region


def _image(name: str, h: int = 200, w: int = 300) -> LoadedImage:
    return LoadedImage(np.zeros((h, w, 3), np.uint8), Path(name), True)


def _result(n: int = 100, seed: int = 0, scores: np.ndarray | None = None) -> MatchResult:
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(0, 300, 3.0), np.arange(0, 200, 3.0)), -1).reshape(-1, 2)
    kpts0 = (grid[rng.permutation(len(grid))[:n]] + rng.uniform(0, 0.5, (n, 2))).astype(np.float32)  # 3 px apart
    kpts1 = (kpts0 + [5, 3]).astype(np.float32)
    scores = np.sort(rng.uniform(0, 1, n))[::-1].astype(np.float32) if scores is None else scores
    info = RunInfo("fake", "-", "cpu", "fp32", ((200, 300), (200, 300)), 0.0)
    return MatchResult(kpts0, kpts1, scores, ((200, 300), (200, 300)), info)


class Recorder:
    def __init__(self, model: InspectionModel) -> None:
        self.events: list[str] = []
        for name in ("pair_changed", "result_changed", "visible_changed", "selection_changed", "geometry_changed"):
            getattr(model, name).connect(lambda *_, n=name: self.events.append(n))


@pytest.fixture
def model() -> InspectionModel:
    model = InspectionModel()
    model.set_images(_image("a.png"), _image("b.png"))
    return model


def test_result_lands_only_on_its_pair(model):
    version = model.pair_version
    model.set_image(1, _image("c.png"))
    assert not model.set_result(_result(), version), "computed for the pair shown before"
    assert model.set_result(_result(), model.pair_version)


def test_visible_set_is_threshold_and_box(model):
    result = _result(200)
    model.set_result(result, model.pair_version)
    recorder = Recorder(model)
    model.set_threshold(0.5)
    assert model.visible_count() == int((result.scores >= 0.5).sum()) == model.prefix_count
    region = Region.spanning(0, (100, 50), (0, 0))
    model.set_region(region)
    inside = region.contains(result.kpts0) & (result.scores >= 0.5)
    np.testing.assert_array_equal(model.visible_mask(), inside)
    assert model.visible_count() == int(inside.sum())
    assert recorder.events.count("visible_changed") == 2
    model.set_region(Region.spanning(1, (105, 53), (5, 3)))  # the same box on image 1 (shifted by +5, +3)
    np.testing.assert_array_equal(model.visible_mask(), inside)


def test_selection_steps_through_visible_matches_and_drops_hidden_ones(model):
    model.set_result(_result(50), model.pair_version)
    model.set_threshold(0.0)
    model.set_region(Region.spanning(0, (0, 0), (150, 199)))
    visible = np.flatnonzero(model.visible_mask())
    model.step_selection(1)
    assert model.selected == visible[0]
    model.step_selection(1)
    assert model.selected == visible[1] and model.visible_position(visible[1]) == 2
    model.step_selection(-5)
    assert model.selected == visible[0]
    model.select(int(np.flatnonzero(~model.visible_mask())[0]))
    assert model.selected == -1, "a hidden match cannot be selected"
    model.select(int(visible[-1]))
    model.set_threshold(float(model.result.scores[visible[-1]]) + 1e-6)
    assert model.selected == -1


def test_fit_lands_only_on_the_result_and_options_it_was_computed_for(model):
    model.set_result(_result(80), model.pair_version)
    model.set_geometry_options(GeometryOptions(model="H"))
    result = model.result
    fit_on = np.ones(len(result), bool)
    geometry = fit_and_apply(result.kpts0, result.kpts1, fit_on, model.geometry_options)
    old = GeometryFit(model.result_id, model.threshold, 80, model.geometry_options, geometry)
    model.set_result(_result(80, seed=1), model.pair_version)
    assert not model.set_geometry_fit(old), "computed for the previous result"
    other_options = GeometryFit(model.result_id, model.threshold, 80, GeometryOptions(model="F"), geometry)
    assert not model.set_geometry_fit(other_options)
    assert model.set_geometry_fit(GeometryFit(model.result_id, model.threshold, 80, model.geometry_options, geometry))
    assert model.assessment().verdict == "reliable"


def test_unreliable_and_no_model_verdicts(model):
    model.set_result(_result(80), model.pair_version)
    model.set_geometry_options(GeometryOptions(model="H"))
    result = model.result
    geometry = fit_and_apply(result.kpts0, result.kpts1, np.ones(80, bool), model.geometry_options)
    model.set_geometry_fit(GeometryFit(model.result_id, 0.0, 80, model.geometry_options, geometry))
    model.set_threshold(float(result.scores[5]))  # 6 visible matches, all inliers: too few to trust
    assessment = model.assessment()
    assert assessment.verdict == "unreliable" and "6 inliers of 6" in assessment.label
    model.set_threshold(float(result.scores[2]))
    assert model.assessment().verdict == "no model"


def test_kept_run_a_survives_new_runs_and_keeps_its_threshold(model):
    first = _result(60, seed=3)
    model.set_result(first, model.pair_version)
    model.set_threshold(0.3)
    model.keep_as_a("baseline")
    model.set_result(_result(60, seed=4), model.pair_version)
    model.set_result(first, model.pair_version)
    assert model.run_a.label == "baseline" and model.a_threshold() == pytest.approx(0.3)
    assert model.comparison() is None, "not until the counterparts are computed"
    a, b = model.run_a.result, model.result
    assert model.set_counterparts(model.comparison_key(), find_counterparts(a.kpts0, a.kpts1, b.kpts0, b.kpts1))
    model.set_threshold(0.3)
    comparison = model.comparison()
    assert (comparison.gained, comparison.lost) == (0, 0), "the same matches on both sides"
    model.set_threshold(0.6)
    assert model.comparison().lost == int(((first.scores >= 0.3) & (first.scores < 0.6)).sum())
    model.set_a_follows_b(True)
    assert model.comparison().lost == 0


def test_counterparts_for_other_runs_are_refused(model):
    model.set_result(_result(20), model.pair_version)
    model.set_result(_result(20, seed=1), model.pair_version)
    a, b = model.run_a.result, model.result
    counterparts = find_counterparts(a.kpts0, a.kpts1, b.kpts0, b.kpts1)
    assert not model.set_counterparts((a.__hash__(), 0), counterparts)
    assert model.set_counterparts(model.comparison_key(), counterparts)


def test_logit_scores_get_their_own_range(model):
    scores = np.linspace(80, 17, 40).astype(np.float32)
    model.set_result(_result(40, scores=scores), model.pair_version)
    assert model.score_range == (0.0, 80.0)
    model.set_threshold(50)
    assert model.visible_count() == int((scores >= 50).sum())
    model.set_threshold(500)
    assert model.threshold == 80.0


def test_unsorted_results_are_ordered_best_first(model):
    scores = np.array([0.1, 0.9, 0.5], np.float32)
    model.set_result(_result(3, scores=scores), model.pair_version)
    np.testing.assert_array_equal(model.result.scores, np.array([0.9, 0.5, 0.1], np.float32))
    model.set_threshold(0.4)
    assert model.visible_count() == 2


def test_pending_options_name_what_differs_from_the_result_on_screen(model):
    shown = MatchOptions(long_side=1024)
    model.set_match_options(shown)
    model.set_result(_result(), model.pair_version, shown)
    assert model.pending_options() == ()
    model.set_match_options(MatchOptions(long_side=640, precision="bf16"))
    assert set(model.pending_options()) == {"long_side", "precision"}
    model.set_match_options(MatchOptions(matcher="sift", long_side=640))
    assert model.pending_options() == ("matcher",)


def test_line_budget_and_drawn_count(model):
    model.set_result(_result(5000), model.pair_version)
    model.set_threshold(0.0)
    model.set_display(line_budget=500)
    assert 0 < model.drawn_line_count() <= 500 < model.visible_count()
    model.set_display(line_budget=0)
    assert model.drawn_line_count() == 5000
    model.set_display(show_lines=False)
    assert model.drawn_line_count() == 0


def test_colours_follow_mode_and_data(model):
    model.set_result(_result(30), model.pair_version)
    colors = model.line_colors()
    assert colors.legend.title == "score" and len(colors.index) == 30
    model.set_display(color_mode="inlier")
    assert model.line_colors().legend.labels == ("no geometric model",)


def test_a_fit_arriving_after_the_pair_changed_is_refused(model):
    model.set_result(_result(40), model.pair_version)
    result, result_id = model.result, model.result_id
    geometry = fit_and_apply(result.kpts0, result.kpts1, np.ones(40, bool), model.geometry_options)
    late = GeometryFit(result_id, model.threshold, 40, model.geometry_options, geometry)
    model.set_image(1, _image("c.png"))
    assert not model.set_geometry_fit(late)
    assert model.current_fit() is None and model.assessment() is None


def test_run_a_lives_in_the_comparison_state_with_its_own_events(model):
    heard: list[str] = []
    model.ab.run_a_changed.connect(lambda: heard.append("run_a"))
    model.ab.comparison_changed.connect(lambda: heard.append("comparison"))
    model.set_result(_result(seed=1), model.pair_version)
    model.set_result(_result(seed=2), model.pair_version)  # the first result becomes run A
    assert model.run_a is model.ab.run_a and model.run_a.label == "previous run"
    assert heard.count("run_a") == 2, "each result announces its run A"
    heard.clear()
    model.set_a_follows_b(True)
    assert model.ab.a_follows_b and heard == ["run_a", "comparison"]
    model.set_threshold(0.2)
    assert model.a_threshold() == pytest.approx(0.2), "A follows B's threshold, which the model passes in"
    model.set_images(_image("c.png"), _image("d.png"))
    assert model.ab.run_a is None and model.comparison_key() is None, "a new pair has no run A"


def test_geometry_options_and_fit_live_in_the_geometry_state_and_a_new_option_makes_the_fit_stale(model):
    result = _result()
    model.set_result(result, model.pair_version)
    geometry = fit_and_apply(result.kpts0, result.kpts1, np.ones(len(result), bool), model.geometry_options)
    assert model.set_geometry_fit(GeometryFit(model.result_id, model.threshold, 100, model.geometry_options, geometry))
    assert model.geo.current(model.result_id) is model.current_fit() is not None
    heard: list[str] = []
    model.geo.options_changed.connect(lambda: heard.append("options"))
    model.geo.changed.connect(lambda: heard.append("changed"))
    model.set_geometry_options(GeometryOptions(model="F", threshold_px=1.5))
    assert heard == ["options", "changed"]
    assert model.geometry_options is model.geo.options and model.current_fit() is None and model.refitting()


def test_selection_box_and_hover_live_in_the_selection_state_and_a_hidden_match_is_dropped(model):
    model.set_result(_result(), model.pair_version)
    heard: list[object] = []
    model.sel.selection_changed.connect(heard.append)
    model.set_threshold(0.0)
    model.select(5)
    model.hover(7)
    assert (model.sel.selected, model.sel.hovered) == (5, 7) and heard == [5]
    point = model.result.kpts0[5]
    model.set_region(Region(0, point[0] + 1, point[1] + 1, point[0] + 50, point[1] + 50))
    assert model.sel.region is model.region and model.selected == -1 and heard == [5, -1]


def test_the_result_threshold_and_visible_set_live_in_the_result_state(model):
    result = _result()
    model.set_result(result, model.pair_version)
    first_id = model.res.result_id
    heard: list[float] = []
    model.res.threshold_changed.connect(heard.append)
    model.set_threshold(5.0)  # past the best score: clamped
    assert model.res.threshold == model.threshold == model.score_range[1] and len(heard) == 1
    passing = int(np.count_nonzero(result.scores >= model.threshold))
    assert model.res.prefix == model.prefix_count == passing == model.visible_count()
    model.set_threshold(0.5)
    assert model.prefix_count == int(np.count_nonzero(result.scores >= 0.5)) and len(heard) == 2
    model.set_threshold(0.5)
    assert len(heard) == 2, "no event for the threshold it already has"
    model.set_result(_result(seed=3), model.pair_version)
    assert model.res.result_id > first_id and model.result is model.res.result
