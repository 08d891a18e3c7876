"""The inspection model: the pair and everything about how it is inspected, composed of small evented states.

Each kind of state has one owner with its own events (napari's `ViewerModel` built from `Camera`, `Dims`, ...):
`res` (ResultState: the result, its id, the threshold, the visible set), `sel` (SelectionState: the selected and
hovered match, the box, the ambiguity map), `geo` (GeometryState: geometry options and the fit made with them),
`ab` (ComparisonState: run A and its counterparts), `display`, `view`, `image_options` and `export_options`
(gui/inspection/settings.py). The model holds the pair itself, the matcher options and the overlay picture, and
keeps thin facade methods that pass one state what it needs of another (a fit lands only on the current result id)
and announce changes in the order views rely on; its event names are the parts' events under their old names.

Plain Python and numpy with psygnal events (napari's model/view split): controls write here, views listen here, and
nothing else keeps a copy. All mutation happens on the GUI thread; background jobs hand their results to the setters
below, which drop anything computed for another result.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from psygnal import Signal

from core.analysis.ambiguity import AmbiguityMap
from core.analysis.compare import Comparison, Counterparts
from core.analysis.geometry import Assessment, GeometryOptions, assess, epipolar_segment
from core.analysis.line_budget import LineSubsample, even_subsample
from core.formats.drawing import Layout, LineColors, line_colors
from core.formats.images import LoadedImage
from core.types import MatchOptions, MatchResult

from .comparison import ComparisonState, RunA
from .geometry_state import GeometryFit, GeometryState
from .matcher_comparison import MatcherComparison
from .result_state import ResultState
from .selection import Region, SelectionState
from .settings import DisplayOptions, ExportOptions, ImageOptions, ViewState


@dataclass(frozen=True, eq=False)
class Overlay:
    """Image 1 warped onto image 0 by a fit's homography (or a checkerboard of both), and what it was made from: it
    is shown only while the result, the fit and the checkerboard choice are still those."""

    result_id: int
    fit: GeometryFit
    checker: bool
    image: np.ndarray  # RGB, image 0's size

    def made_from(self, inputs: tuple[int, GeometryFit, bool] | None) -> bool:
        """Whether these are the inputs it was made from (the fit by identity: a re-fit is another fit)."""
        return inputs is not None and (self.result_id, self.checker) == (inputs[0], inputs[2]) and self.fit is inputs[1]


class InspectionModel:
    pair_changed = Signal()
    match_options_changed = Signal()  # the options of the next run, or whether they are pending
    busy_changed = Signal(bool)
    overlay_changed = Signal()  # a new overlay picture landed (or the one held was dropped)
    model_points_changed = Signal()  # what a COLMAP model made of the matches on screen landed (colour mode "model")

    def __init__(self) -> None:
        self.image_options = ImageOptions()  # how the images are read (EXIF)
        self.export_options = ExportOptions()
        self.images: tuple[LoadedImage | None, LoadedImage | None] = (None, None)
        self.pair_version = 0  # bumps on every image change: runs carry the version they were made for
        self.res = ResultState()  # the result on screen, its id, the threshold and the visible set
        self.result_changed = self.res.result_changed
        self.threshold_changed = self.res.threshold_changed
        self.visible_changed = self.res.visible_changed
        self.match_options = MatchOptions()  # what the next run uses
        self.sel = SelectionState()  # the selected and hovered match, the box, the selected match's ambiguity
        self.selection_changed = self.sel.selection_changed
        self.hover_changed = self.sel.hover_changed
        self.region_changed = self.sel.region_changed
        self.ambiguity_changed = self.sel.ambiguity_changed
        self.display = DisplayOptions()  # how the matches are drawn
        self.view = ViewState()  # layout and the part of the pair in view
        self.geo = GeometryState()  # geometry options, the fit made with them, the pose's Sampson errors
        self.geometry_options_changed = self.geo.options_changed
        self.geometry_changed = self.geo.changed
        self.ab = ComparisonState()  # run A and its counterparts in the result on screen (run B)
        self.matchers = MatcherComparison()  # several matchers on the pair: the ticked ones, their runs, the table
        self.run_a_changed = self.ab.run_a_changed
        self.comparison_changed = self.ab.comparison_changed
        self.overlay: Overlay | None = None  # the last overlay picture made; shown only while current_overlay()
        self.model_points: tuple[int, np.ndarray] | None = None  # (result id, per match: one 3D point of the model)
        self.busy = False
        self._colors: tuple[tuple[Any, ...], LineColors] | None = None
        self._subsample: tuple[tuple[int, int, Region | None, bool], LineSubsample] | None = None
        self._assessment: tuple[tuple[Any, ...], Assessment] | None = None
        self._drawn_fit: GeometryFit | None = None  # model_fit() when geometry_changed last fired
        self.geometry_changed.connect(self._remember_drawn_fit)  # first: before any view asks
        self.display.events.ambiguity.connect(self._ambiguity_toggled)  # first: the old map goes before views ask

    def disconnect_all(self) -> None:
        """Forget every listener (the window closes: late background results must reach no view)."""
        for name in dir(type(self)):
            if isinstance(getattr(type(self), name, None), Signal):
                getattr(self, name).disconnect()
        for state in (self.res, self.ab, self.geo, self.sel, self.matchers):
            for name in dir(type(state)):
                if isinstance(getattr(type(state), name, None), Signal):
                    getattr(state, name).disconnect()
        for part in (self.image_options, self.export_options, self.display, self.view, self.matchers.choice):
            part.events.disconnect()

    # --- pair ---------------------------------------------------------------------------------------------
    @property
    def has_pair(self) -> bool:
        return self.images[0] is not None and self.images[1] is not None

    def paths(self) -> tuple[str | None, str | None]:
        return tuple(str(i.path) if i is not None and i.path else None for i in self.images)  # type: ignore[return-value]

    def set_images(self, image0: LoadedImage | None, image1: LoadedImage | None) -> None:
        self.images = (image0, image1)
        self.pair_version += 1
        self._clear_result()
        self.ab.run_a = None
        self.ab.set_counterparts(None, None)
        self.matchers.clear()
        self.pair_changed.emit()
        self.run_a_changed.emit()

    def set_image(self, side: int, image: LoadedImage | None) -> None:
        images = list(self.images)
        images[side] = image
        self.set_images(images[0], images[1])

    def swap(self) -> None:
        self.set_images(self.images[1], self.images[0])

    # --- result -------------------------------------------------------------------------------------------
    def _clear_result(self) -> None:
        had = self.result is not None
        self.res.clear()
        self.geo.fit = None
        self.overlay = None
        self.sel.forget()
        self.sel.region = None
        if had:
            self.result_changed.emit()
            self.geometry_changed.emit()
            self.visible_changed.emit()
            self.match_options_changed.emit()

    def set_result(
        self,
        result: MatchResult,
        pair_version: int,
        options: MatchOptions | None = None,
        stored_inliers: np.ndarray | None = None,
    ) -> bool:
        """Accept a result only if it was computed for the pair shown now; the previous one becomes run A.
        `stored_inliers`: the verification stored with matches opened from a matching run (colour mode "stored")."""
        if pair_version != self.pair_version or not self.has_pair:
            return False
        if np.any(np.diff(result.scores) > 0):  # the visible-prefix logic needs best-first order
            order = np.argsort(-result.scores, kind="stable")
            result = result.subset(order)
            stored_inliers = None if stored_inliers is None else stored_inliers[order]
        if stored_inliers is None and self.display.color_mode == "stored":
            # e.g. Re-match: the new matches carry no stored verification; grey lines would say nothing
            self.display.color_mode = DisplayOptions.color_mode
        if self.result is not None and (self.run_a is None or not self.run_a.kept):
            self.ab.run_a = RunA("previous run", self.result, self.threshold, self.result_id)
        self.res.replace(result, options, stored_inliers)
        self.geo.fit = None
        self.overlay = None
        self.sel.forget()
        self.sel.region = None
        self.result_changed.emit()
        self.threshold_changed.emit(self.threshold)
        self.visible_changed.emit()
        self.selection_changed.emit(-1)
        self.geometry_changed.emit()
        self.run_a_changed.emit()
        self.comparison_changed.emit()
        self.match_options_changed.emit()
        return True

    @property
    def result(self) -> MatchResult | None:
        return self.res.result

    @property
    def result_id(self) -> int:
        return self.res.result_id

    @property
    def result_options(self) -> MatchOptions | None:
        """What the shown result was computed with."""
        return self.res.options

    @property
    def stored_inliers(self) -> np.ndarray | None:
        return self.res.stored_inliers

    @property
    def threshold(self) -> float:
        return self.res.threshold

    @property
    def score_range(self) -> tuple[float, float]:
        return self.res.score_range

    # --- threshold, region and the visible set ------------------------------------------------------------
    def set_threshold(self, value: float) -> None:
        if not self.res.set_threshold(value):
            return
        self._drop_hidden_selection()
        self.threshold_changed.emit(self.threshold)
        self.visible_changed.emit()
        self._verdict_may_have_changed()
        if self.a_follows_b:
            self.comparison_changed.emit()

    def set_region(self, region: Region | None) -> None:
        if region == self.region:
            return
        self.sel.region = region
        self.res.set_region(region)
        self._drop_hidden_selection()
        self.region_changed.emit()
        self.visible_changed.emit()
        self._verdict_may_have_changed()

    @property
    def prefix_count(self) -> int:
        """How many matches pass the threshold (before any box selection)."""
        return self.res.prefix

    @property
    def region_mask(self) -> np.ndarray | None:
        return self.res.region_mask

    def visible_mask(self) -> np.ndarray:
        return self.res.visible_mask()

    def visible_count(self) -> int:
        return self.res.visible_count()

    def is_visible(self, index: int) -> bool:
        return self.res.is_visible(index)

    def visible_position(self, index: int) -> int:
        """1-based position of a visible match among the visible ones (score order), 0 if hidden."""
        if not self.is_visible(index):
            return 0
        return int(np.count_nonzero(self.visible_mask()[:index])) + 1

    # --- selection (state in self.sel; the model decides what is visible) ---------------------------------
    @property
    def selected(self) -> int:
        return self.sel.selected

    @property
    def hovered(self) -> int:
        return self.sel.hovered

    @property
    def region(self) -> Region | None:
        return self.sel.region

    @property
    def ambiguity(self) -> AmbiguityMap | None:
        return self.sel.ambiguity

    def select(self, index: int) -> None:
        self.sel.select(index if index < 0 or self.is_visible(index) else -1)

    def hover(self, index: int) -> None:
        self.sel.hover(index)

    # --- ambiguity --------------------------------------------------------------------------------------
    def ambiguity_key(self) -> tuple[int, int] | None:
        """(result id, match) the ambiguity view needs now, or None (off, nothing selected, no coarse features)."""
        result = self.result
        if not self.display.ambiguity or self.selected < 0 or result is None or result.coarse is None:
            return None
        return self.result_id, self.selected

    def set_ambiguity(self, key: tuple[int, int], ambiguity: AmbiguityMap) -> bool:
        if key != self.ambiguity_key():
            return False
        self.sel.set_ambiguity(key, ambiguity)
        return True

    def _clear_ambiguity(self) -> None:
        self.sel.clear_ambiguity()

    def _drop_hidden_selection(self) -> None:
        if self.selected >= 0 and not self.is_visible(self.selected):
            self.sel.select(-1)
        if self.hovered >= 0 and not self.is_visible(self.hovered):
            self.sel.hover(-1)

    def step_selection(self, delta: int) -> None:
        visible = np.flatnonzero(self.visible_mask())
        if len(visible) == 0:
            return
        if self.selected < 0:
            position = 0 if delta > 0 else len(visible) - 1
        else:
            position = int(np.searchsorted(visible, self.selected)) + delta
        self.select(int(visible[min(max(position, 0), len(visible) - 1)]))

    # --- display ------------------------------------------------------------------------------------------
    def set_display(self, **changes: Any) -> None:
        """Several display fields at once (sessions, scripts); each emits its own event."""
        unknown = set(changes) - {f.name for f in fields(DisplayOptions)}
        if unknown:
            raise TypeError(f"not a display option: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            setattr(self.display, name, value)

    def _ambiguity_toggled(self, on: bool) -> None:
        if not on:
            self._clear_ambiguity()

    def layout(self) -> Layout:
        """The layout the pair is drawn in, on screen and in the PNG export."""
        image0, image1 = self.images
        return self.view.resolve(image0.size if image0 else None, image1.size if image1 else None)

    def line_subsample(self) -> LineSubsample | None:
        """The drawable lines under the line budget, for every threshold of this result (and box, if any).

        While the visible matches fit in the budget every one of them is drawable: a subsample made for all the
        matches would thin them below it."""
        result = self.result
        if result is None:
            return None
        budget = self.display.line_budget or max(len(result), 1)
        within = self.visible_count() <= budget
        key = (self.result_id, self.display.line_budget, self.region, within)
        if self._subsample is None or self._subsample[0] != key:
            if within:
                subsample = LineSubsample(np.ones(len(result), bool), budget, 0.0, len(result))
            elif self.res.region_mask is None:
                subsample = even_subsample(result.kpts0, result.image_sizes[0], budget)
            else:  # the budget is spent inside the box: zooming into a region shows its lines
                inside = np.flatnonzero(self.res.region_mask)
                in_box = even_subsample(result.kpts0[inside], result.image_sizes[0], budget)
                drawable = np.zeros(len(result), bool)
                drawable[inside[in_box.drawable]] = True
                subsample = replace(in_box, drawable=drawable)
            self._subsample = (key, subsample)
        return self._subsample[1]

    def drawn_line_count(self) -> int:
        """Lines the view draws now: visible and within the line budget (0 in the keypoints-only view)."""
        subsample = self.line_subsample()
        if subsample is None or not self.display.show_lines or self.overlay_shown():
            return 0
        return int(np.count_nonzero(subsample.drawable & self.visible_mask()))

    def overlay_shown(self) -> bool:
        """The overlay replaces the lines while a homography is there to warp with."""
        fit = self.model_fit()
        return self.display.overlay and fit is not None and fit.geometry.model == "H"

    def overlay_inputs(self) -> tuple[int, GeometryFit, bool] | None:
        """(result id, fit, checkerboard) the overlay needs now, or None while no overlay is to be shown."""
        fit = self.model_fit()
        if not self.overlay_shown() or fit is None or not self.has_pair:
            return None
        return self.result_id, fit, self.display.overlay_checker

    def set_overlay(self, overlay: Overlay) -> bool:
        """An overlay picture lands only if it was made from the inputs wanted now."""
        if not overlay.made_from(self.overlay_inputs()):
            return False
        self.overlay = overlay
        self.overlay_changed.emit()
        return True

    def current_overlay(self) -> Overlay | None:
        """The overlay picture while its result, fit and checkerboard choice are the current ones; else None."""
        overlay = self.overlay
        return overlay if overlay is not None and overlay.made_from(self.overlay_inputs()) else None

    # --- colours ------------------------------------------------------------------------------------------
    def line_colors(self) -> LineColors | None:
        """The colour of every match line, as the screen and every picture draw it."""
        result = self.result
        if result is None:
            return None
        mode = self.display.color_mode
        fit = self.model_fit()  # a "no model" fit colours nothing
        comparison = self.comparison() if mode == "compare" else None
        pose = self.geo.pose_for(self.result_id)
        key = (
            self.result_id,
            mode,
            id(fit) if mode in ("inlier", "residual") else None,
            comparison.kept_a.tobytes() if comparison is not None else None,
            id(pose) if mode == "pose" else None,
            id(self.model_points) if mode == "model" else None,
        )
        if self._colors is None or self._colors[0] != key:
            geometry = fit.geometry if fit is not None else None
            residuals = geometry.residuals if geometry is not None else None
            threshold_px = geometry.threshold_px if geometry is not None else self.geometry_options.threshold_px
            if mode == "pose":
                residuals, threshold_px = (pose[1], pose[2]) if pose is not None else (None, threshold_px)
            colors = line_colors(
                mode,
                result.scores,
                self.score_range,
                inliers=geometry.inliers if geometry is not None else None,
                residuals=residuals,
                threshold_px=threshold_px,
                shared=comparison.shared_b if comparison is not None else None,
                stored_inliers=self.stored_inliers,
                triangulated=self.model_points_for(self.result_id),
            )
            self._colors = (key, colors)
        return self._colors[1]

    # --- matcher options ----------------------------------------------------------------------------------
    def set_match_options(self, options: MatchOptions) -> None:
        if options != self.match_options:
            self.match_options = options
            self.match_options_changed.emit()

    def pending_options(self) -> tuple[str, ...]:
        """Names of the settings that differ from those of the result on screen (applied by the next run)."""
        shown = self.result_options
        if shown is None:
            return ()
        wanted = self.match_options
        names = ["matcher"] if wanted.matcher != shown.matcher else []
        if wanted.matcher == "eloftr" and shown.matcher == "eloftr":
            names += [
                f.name
                for f in fields(MatchOptions)
                if f.name != "matcher" and getattr(wanted, f.name) != getattr(shown, f.name)
            ]
        return tuple(names)

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self.busy_changed.emit(busy)

    # --- geometry -----------------------------------------------------------------------------------------
    @property
    def geometry_options(self) -> GeometryOptions:
        return self.geo.options

    @property
    def geometry_fit(self) -> GeometryFit | None:
        return self.geo.fit

    def set_model_points(self, result_id: int, triangulated: np.ndarray | None) -> bool:
        """Per match of result `result_id`: both keypoints observe one 3D point of the run's COLMAP model (from its
        tracks); None: not known. Lands only on that result."""
        if triangulated is not None and (
            result_id != self.result_id or self.result is None or len(triangulated) != len(self.result)
        ):
            return False
        self.model_points = None if triangulated is None else (result_id, triangulated)
        self.model_points_changed.emit()
        return True

    def model_points_for(self, result_id: int) -> np.ndarray | None:
        points = self.model_points
        return points[1] if points is not None and points[0] == result_id else None

    def set_pose_sampson(self, result_id: int, sampson_px: np.ndarray, threshold_px: float) -> bool:
        """Each match's Sampson error under the relative pose's E (colour mode "pose"), for that result only."""
        if result_id != self.result_id or self.result is None or len(sampson_px) != len(self.result):
            return False
        self.geo.set_pose_sampson(result_id, sampson_px, threshold_px)
        return True

    def set_geometry_options(self, options: GeometryOptions) -> None:
        """New options make the fit on screen stale at once: nothing shows it until the re-fit lands."""
        self.geo.set_options(options)

    def set_geometry_fit(self, fit: GeometryFit | None) -> bool:
        """A fit lands only on the result it was computed for, with the options it was computed with."""
        return self.geo.set_fit(fit, self.result_id)

    def current_fit(self) -> GeometryFit | None:
        """The fit, only while it belongs to the result on screen and was made with the current options."""
        return self.geo.current(self.result_id if self.result is not None else None)

    def refitting(self) -> bool:
        """A fit of this result exists but for other options: the new one is being computed."""
        return self.geo.refitting(self.result_id if self.result is not None else None)

    def fit_is_fresh(self) -> bool:
        """The fit was estimated on exactly the matches passing the threshold now."""
        fit = self.current_fit()
        return fit is not None and abs(fit.threshold - self.threshold) < 1e-12  # a box filters, the fit stays

    def assessment(self, judged_on: np.ndarray | None = None) -> Assessment | None:
        """The fit judged on the visible matches (or on the mask `judged_on`): reliable, unreliable, or no model."""
        fit = self.current_fit()
        if fit is None:
            return None
        key = (id(fit), self.res.prefix, self.region)
        if judged_on is None and self._assessment is not None and self._assessment[0] == key:
            return self._assessment[1]  # asked by several views on every slider step
        mask = self.visible_mask() if judged_on is None else judged_on
        geometry = fit.geometry
        inliers = int(np.count_nonzero(geometry.inliers & mask)) if geometry.ok else 0
        assessment = assess(geometry.model, geometry.ok, inliers, int(np.count_nonzero(mask)), geometry.status)
        if judged_on is None:
            self._assessment = (key, assessment)
        return assessment

    def _verdict_may_have_changed(self) -> None:
        """The fit is judged on the visible matches: when a threshold or box turns it into "no model" (or back),
        everything drawn from it changes, as if the fit itself had."""
        if self.model_fit() is not self._drawn_fit:
            self.geometry_changed.emit()

    def _remember_drawn_fit(self) -> None:
        self._drawn_fit = self.model_fit()

    def model_fit(self) -> GeometryFit | None:
        """The current fit unless it is judged "no model": only such a fit is drawn, coloured by or exported."""
        fit = self.current_fit()
        if fit is None or not fit.geometry.ok or fit.geometry.matrix is None:
            return None
        assessment = self.assessment()
        return None if assessment is None or assessment.verdict == "no model" else fit

    def epipolar_segment(self, index: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The selected match's epipolar line in image 1 (pixels) under the current F, or None."""
        fit, result, image1 = self.model_fit(), self.result, self.images[1]
        if fit is None or fit.geometry.matrix is None or fit.geometry.model != "F" or result is None or image1 is None:
            return None
        return epipolar_segment(fit.geometry.matrix, result.kpts0[index], image1.size)

    # --- A/B (state in self.ab; these pass it what it needs of run B) ---------------------------------------
    @property
    def run_a(self) -> RunA | None:
        return self.ab.run_a

    @property
    def a_follows_b(self) -> bool:
        return self.ab.a_follows_b

    def keep_as_a(self, label: str = "kept run") -> None:
        if self.result is not None:
            self.ab.set_run_a(RunA(label, self.result, self.threshold, self.result_id, kept=True))

    def show_ab(
        self, label_a: str, result_a: MatchResult, result_b: MatchResult, pair_version: int, options_b: MatchOptions
    ) -> bool:
        """Two results on this pair as A/B: B on screen, A kept for comparison at the current threshold, lines
        coloured shared / gained / lost. False (nothing changes) when they were made for another pair."""
        if pair_version != self.pair_version or not self.has_pair:
            return False
        self.ab.run_a = RunA(label_a, result_a, self.threshold, self.res.reserve_id(), kept=True)
        self.set_result(result_b, pair_version, options_b)
        self.display.color_mode = "compare"
        return True

    def set_run_a(self, run_a: RunA | None) -> None:
        """Restore a run A (sessions)."""
        self.ab.set_run_a(run_a)

    def set_a_threshold(self, value: float) -> None:
        self.ab.set_a_threshold(value)

    def set_a_follows_b(self, follows: bool) -> None:
        self.ab.set_a_follows_b(follows)

    def a_threshold(self) -> float | None:
        return self.ab.a_threshold(self.threshold)

    def comparison_key(self) -> tuple[int, int] | None:
        """(A's id, B's id) of the comparison the current runs need, or None without both runs."""
        return self.ab.key(self.result_id if self.result is not None else None)

    def set_counterparts(self, key: tuple[int, int], counterparts: Counterparts) -> bool:
        if key != self.comparison_key():
            return False
        self.ab.set_counterparts(key, counterparts)
        self.comparison_changed.emit()
        return True

    def comparison(self) -> Comparison | None:
        """Shared / gained / lost between A (at its threshold) and B's visible matches; None until computed."""
        return self.ab.comparison(self.comparison_key(), self.threshold, self.region, self.visible_mask)
