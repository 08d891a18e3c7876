"""Geometry fits, A/B counterparts, the homography overlay and the ambiguity map, computed off the GUI thread for the
model, which holds each result with the inputs it was made from.

Each kind of job has one worker where the latest request wins. A fit is tagged with the result and options it was
computed for, and the model refuses it for anything else; the threshold and box selection re-fit after a pause.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer

from core.analysis.ambiguity import ambiguity_map
from core.analysis.compare import find_counterparts
from core.analysis.geometry import GeometryOptions, checkerboard, fit_and_apply, warp_onto_first

from ..inspection import GeometryFit, InspectionModel, Overlay
from ..jobs import LatestJobRunner
from .feedback import Feedback

REFIT_DELAY_MS = 150  # the slider moves many times a second: fit once it pauses


def _fit(
    result_id: int, kpts0: np.ndarray, kpts1: np.ndarray, fit_on: np.ndarray, options: GeometryOptions, threshold: float
) -> GeometryFit:
    geometry = fit_and_apply(kpts0, kpts1, fit_on, options)
    return GeometryFit(result_id, threshold, int(fit_on.sum()), options, geometry)


def _warm_up() -> None:
    """Import the libraries the jobs use (scipy's KD-tree, OpenCV) before the user needs them: a first A/B or fit
    would otherwise wait half a second for the import."""
    import cv2  # noqa: F401
    import scipy.spatial  # noqa: F401


def _overlay(rgb0: np.ndarray, rgb1: np.ndarray, result_id: int, fit: GeometryFit, checker: bool) -> Overlay:
    assert fit.geometry.matrix is not None
    warped = warp_onto_first(rgb1, fit.geometry.matrix, rgb0.shape[:2])
    return Overlay(result_id, fit, checker, checkerboard(rgb0, warped) if checker else warped)


class AnalysisController(QObject):
    def __init__(self, model: InspectionModel, feedback: Feedback) -> None:
        super().__init__()
        self.model = model
        self.feedback = feedback
        self.fits = LatestJobRunner("geometry")
        self.comparisons = LatestJobRunner("comparison")
        self.overlays = LatestJobRunner("overlay")
        self.ambiguities = LatestJobRunner("ambiguity")
        self.ambiguities.finished.connect(lambda _, value: model.set_ambiguity(*value))
        self.ambiguities.failed.connect(lambda _, message: feedback.status(message, 8000))
        model.selection_changed.connect(self.ambiguity_now)
        self.fits.finished.connect(self._fitted)
        self.fits.failed.connect(self._fit_failed)
        self.comparisons.finished.connect(lambda _, value: value is not None and model.set_counterparts(*value))
        self.comparisons.failed.connect(lambda _, message: feedback.status(f"A/B failed: {message}", 8000))
        self.overlays.finished.connect(lambda _, overlay: model.set_overlay(overlay))
        self.overlays.failed.connect(self._overlay_failed)
        self._overlay_failure = False  # the overlay for the current inputs failed: nothing is pending any more
        self._submitted: tuple[Any, ...] | None = None  # the fit on its way: not asked for twice
        self._compare_submitted: tuple[int, int] | None = None
        self.comparisons.submit(_warm_up)  # its answer is dropped by the first real comparison, or ignored
        self.timer = QTimer(self, singleShot=True, interval=REFIT_DELAY_MS)
        self.timer.timeout.connect(self.fit_now)
        model.result_changed.connect(self.fit_now)
        model.result_changed.connect(self.compare_now)
        model.run_a_changed.connect(self.compare_now)
        model.visible_changed.connect(lambda: self.timer.start())
        model.geometry_options_changed.connect(self.fit_now)
        model.geometry_changed.connect(self.update_overlay)
        display = model.display.events
        display.ambiguity.connect(self.ambiguity_now)
        display.overlay.connect(self.update_overlay)
        display.overlay_checker.connect(self.update_overlay)

    @property
    def busy(self) -> bool:
        ambiguity_pending = self.model.ambiguity_key() is not None and self.model.ambiguity is None
        overlay_pending = (
            self.model.overlay_inputs() is not None
            and self.model.current_overlay() is None
            and not self._overlay_failure
        )
        return (
            self.timer.isActive() or self._fit_pending or self._compare_pending or ambiguity_pending or overlay_pending
        )

    @property
    def _fit_pending(self) -> bool:
        model = self.model
        return self._submitted is not None or (
            model.result is not None and model.geometry_options.model != "none" and model.current_fit() is None
        )

    @property
    def _compare_pending(self) -> bool:
        return self.model.comparison_key() is not None and self.model.comparison() is None

    def fit_now(self, *_: Any) -> None:
        self.timer.stop()
        model = self.model
        result = model.result
        if result is None or model.geometry_options.model == "none":
            self.fits.cancel()
            self._submitted = None
            model.set_geometry_fit(None)
            return
        key = (model.result_id, model.threshold, model.geometry_options)
        if model.fit_is_fresh() or key == self._submitted:
            return
        self._submitted = key
        fit_on = np.zeros(len(result), bool)
        fit_on[: model.prefix_count] = True  # the fit uses every match passing the threshold; a box only filters
        self.fits.submit(
            _fit, model.result_id, result.kpts0, result.kpts1, fit_on, model.geometry_options, model.threshold
        )

    def _fitted(self, _: int, fit: GeometryFit) -> None:
        self._submitted = None
        self.model.set_geometry_fit(fit)

    def _fit_failed(self, _: int, message: str) -> None:
        self._submitted = None
        self.feedback.status(f"Geometry failed: {message}", 8000)

    def compare_now(self, *_: Any) -> None:
        model = self.model
        key = model.comparison_key()
        if key is None or model.run_a is None or model.result is None:
            self.comparisons.cancel()
            return
        if key == self._compare_submitted and model.comparison() is None:
            return  # already on its way (a new result also changes run A: both ask)
        self._compare_submitted = key
        a, b = model.run_a.result, model.result

        def search() -> tuple[tuple[int, int], Any]:
            return key, find_counterparts(a.kpts0, a.kpts1, b.kpts0, b.kpts1)

        self.comparisons.submit(search)

    def ambiguity_now(self, *_: Any) -> None:
        """The selected match's confidence over image 1, computed off the GUI thread when the view is on."""
        model = self.model
        if model.display.ambiguity and model.result is not None and model.result.coarse is None:
            self.feedback.status(
                "These matches carry no coarse features (SIFT, a session or a match file): run EfficientLoFTR "
                "to see where else a point could have matched.",
                8000,
            )
        key = model.ambiguity_key()
        if key is None:
            self.ambiguities.cancel()
            return
        result, index = model.result, key[1]
        assert result is not None

        def compute() -> tuple[tuple[int, int], Any]:
            return key, ambiguity_map(result, index)

        self.ambiguities.submit(compute)

    def update_overlay(self, *_: object) -> None:
        """Make the overlay the current inputs need, unless it is held already; say why there is none."""
        model = self.model
        inputs = model.overlay_inputs()
        if inputs is None:
            self.overlays.cancel()
            if model.display.overlay:
                if model.geometry_options.model != "H":
                    self.feedback.status("The overlay needs a homography: choose H in Geometry.", 5000)
                elif model.current_fit() is not None and model.model_fit() is None:
                    self.feedback.status('No overlay: the homography is judged "no model" for these matches.', 5000)
            return
        if model.current_overlay() is not None:
            return
        image0, image1 = model.images
        assert image0 is not None and image1 is not None
        self._overlay_failure = False
        self.overlays.submit(_overlay, image0.pixels, image1.pixels, *inputs)

    def _overlay_failed(self, _: int, message: str) -> None:
        self._overlay_failure = True
        self.feedback.status(f"Overlay failed: {message}", 8000)

    def shutdown(self) -> None:
        for runner in (self.fits, self.comparisons, self.overlays, self.ambiguities):
            runner.shutdown()
