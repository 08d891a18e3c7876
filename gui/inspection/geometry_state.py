"""The geometry check's state, Qt-free: the options the user chose and the fit computed with them.

A fit carries what it was computed for (result id, threshold, options) and counts only while those are current; the
result on screen is owned by InspectionModel, which passes its id in. The relative pose's Sampson errors (colour
mode "pose") live here too, tagged by their result.

Events: `options_changed` when the options change; `changed` when anything drawn from the geometry may have changed
(options, fit, pose errors, or the model's result and verdict, which the model announces here as well).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psygnal import Signal

from core.analysis.geometry import GeometryOptions, GeometryResult


@dataclass(frozen=True)
class GeometryFit:
    """A fit and what it was computed for: it lands only on that result."""

    result_id: int
    threshold: float  # the display threshold of the matches it was estimated on
    fitted_on: int  # how many matches it was estimated on
    options: GeometryOptions
    geometry: GeometryResult  # residuals and inlier flags for every match of the result


class GeometryState:
    options_changed = Signal()
    changed = Signal()

    def __init__(self) -> None:
        self.options = GeometryOptions()
        self.fit: GeometryFit | None = None
        self.pose_sampson: tuple[int, np.ndarray, float] | None = None  # (result id, px per match, threshold px)

    def set_options(self, options: GeometryOptions) -> None:
        """New options make the fit on screen stale at once: nothing shows it until the re-fit lands."""
        if options != self.options:
            self.options = options
            self.options_changed.emit()
            self.changed.emit()

    def set_fit(self, fit: GeometryFit | None, result_id: int) -> bool:
        """A fit lands only on result `result_id` (the one on screen), with the options it was computed with."""
        if fit is not None and (fit.result_id != result_id or fit.options != self.options):
            return False
        self.fit = fit
        self.changed.emit()
        return True

    def set_pose_sampson(self, result_id: int, sampson_px: np.ndarray, threshold_px: float) -> None:
        self.pose_sampson = (result_id, sampson_px, threshold_px)
        self.changed.emit()

    def pose_for(self, result_id: int) -> tuple[int, np.ndarray, float] | None:
        """The pose's Sampson errors if they were computed for result `result_id`."""
        pose = self.pose_sampson
        return pose if pose is not None and pose[0] == result_id else None

    def current(self, result_id: int | None) -> GeometryFit | None:
        """The fit, only while it belongs to result `result_id` (None: no result) and has the current options."""
        fit = self.fit
        if fit is None or result_id is None or fit.result_id != result_id or fit.options != self.options:
            return None
        return None if self.options.model == "none" else fit

    def refitting(self, result_id: int | None) -> bool:
        """A fit of this result exists but for other options: the new one is being computed."""
        fit = self.fit
        return (
            fit is not None
            and result_id is not None
            and fit.result_id == result_id
            and self.current(result_id) is None
            and self.options.model != "none"
        )
