"""Several matchers side by side on one pair: one row per matcher with its matches at the display threshold, the
verified inliers of the geometry fit (MAGSAC++, core.analysis.geometry) and its verdict, the relative pose's error
when intrinsics and a reference pose are known (core.analysis.relative_pose), and its time.

Every figure is computed from the matcher's result and the inputs below, the same for the window and the headless
`compare` command; a row carries the inputs it was computed with, so a view can tell a stale row from a current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.analysis.geometry import GeometryOptions, assess, estimate
from core.analysis.intrinsics import Intrinsics
from core.analysis.relative_pose import estimate_relative_pose, pose_error
from core.types import MatchResult

# Columns of the table, in order, as the terminal, the CSV/JSON files and the window name them.
COLUMNS = (
    "matcher",
    "matches",
    "inliers",
    "inlier_ratio",
    "verdict",
    "pose_error_deg",
    "seconds",
    "note",
)


@dataclass(frozen=True, eq=False)
class PoseReference:
    """What a pose error needs: both cameras' intrinsics and, when known, the true cam1_from_cam0 (R, t)."""

    intrinsics: tuple[Intrinsics, Intrinsics]
    relative: tuple[np.ndarray, np.ndarray] | None = None
    source: str = ""  # where the reference comes from, in words


@dataclass(frozen=True, eq=False)
class TableInputs:
    """What every figure of a row depends on besides the matcher's result."""

    threshold: float  # the display threshold: matches scored at least this take part
    geometry: GeometryOptions = field(default_factory=GeometryOptions)
    pose: PoseReference | None = None

    def same_as(self, other: TableInputs | None) -> bool:
        """Equal threshold and geometry options and the same pose reference (by identity: it holds arrays)."""
        return (
            other is not None
            and abs(self.threshold - other.threshold) < 1e-12
            and self.geometry == other.geometry
            and self.pose is other.pose
        )


@dataclass(frozen=True)
class MatcherRow:
    matcher: str  # the registry's name
    label: str
    matches: int | None  # at the display threshold; None when the matcher did not run
    total: int | None  # every match it returned
    inliers: int | None  # of `matches`, by the fit; 0 when there is no model
    verdict: str  # "reliable", "unreliable", "no model" (core.analysis.geometry.assess); "" when it did not run
    verdict_label: str  # the verdict with its numbers, for people
    pose_error_deg: float | None  # max(rotation, translation) angle error against the reference pose
    pose_status: str  # "ok", why there is no confident pose, or "" without intrinsics
    seconds: float | None  # matching time, model loading excluded (see matching_seconds)
    note: str = ""  # why it did not run, for people

    @property
    def ran(self) -> bool:
        return self.matches is not None

    @property
    def inlier_ratio(self) -> float | None:
        if self.matches is None or self.inliers is None:
            return None
        return self.inliers / self.matches if self.matches else 0.0

    def values(self) -> dict[str, Any]:
        """The row as the CSV and JSON files write it (None: not known)."""
        ratio = self.inlier_ratio
        return {
            "matcher": self.matcher,
            "matches": self.matches,
            "inliers": self.inliers,
            "inlier_ratio": None if ratio is None else round(ratio, 4),
            "verdict": self.verdict,
            "pose_error_deg": None if self.pose_error_deg is None else round(self.pose_error_deg, 3),
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "note": self.note or (self.pose_status if self.pose_status not in ("", "ok") else ""),
        }

    def cells(self) -> dict[str, str]:
        """The row as text, column by column (terminal and window)."""
        ratio = self.inlier_ratio
        return {
            "matcher": self.matcher,
            "matches": "–" if self.matches is None else f"{self.matches:,}",
            "inliers": "–" if self.inliers is None else f"{self.inliers:,}",
            "inlier_ratio": "–" if ratio is None else f"{100 * ratio:.1f}%",
            "verdict": self.verdict or "–",
            "pose_error_deg": "–" if self.pose_error_deg is None else f"{self.pose_error_deg:.2f}",
            "seconds": "–" if self.seconds is None else f"{self.seconds:.2f}",
            "note": self.values()["note"],
        }


def matching_seconds(wall_seconds: float, result: MatchResult) -> float:
    """The time a matcher took for the pair: wall time of the call less the model loading it reports (a first run
    loads weights once; every later pair pays only the rest)."""
    return max(wall_seconds - float(result.info.timings.get("load", 0.0)), 0.0)


def missing_row(matcher: str, label: str, reason: str) -> MatcherRow:
    """A matcher that could not run here (not installed, no weights, failed): its reason instead of figures."""
    return MatcherRow(matcher, label, None, None, None, "", "", None, "", None, reason)


def matcher_row(matcher: str, label: str, result: MatchResult, seconds: float, inputs: TableInputs) -> MatcherRow:
    """The figures of one matcher's result under `inputs`."""
    kept = result.keep(inputs.threshold)
    kpts0, kpts1 = result.kpts0[kept], result.kpts1[kept]
    matches = int(np.count_nonzero(kept))
    fit = estimate(kpts0, kpts1, inputs.geometry)
    inliers = fit.inlier_count if fit.ok else 0
    assessment = assess(inputs.geometry.model, fit.ok, inliers, matches, fit.status)
    error, status = None, ""
    if inputs.pose is not None:
        pose = estimate_relative_pose(kpts0, kpts1, *inputs.pose.intrinsics)
        status = "ok" if pose.confident else f"no confident pose: {pose.status}"
        if pose.confident and inputs.pose.relative is not None:
            assert pose.rotation is not None and pose.translation is not None
            error = pose_error(pose.rotation, pose.translation, *inputs.pose.relative).pose_deg
    return MatcherRow(
        matcher,
        label,
        matches,
        len(result),
        inliers,
        assessment.verdict,
        assessment.label,
        error,
        status,
        seconds,
    )


def format_table(rows: list[MatcherRow] | tuple[MatcherRow, ...]) -> str:
    """The rows as an aligned text table for the terminal."""
    header = {name: name.replace("_", " ") for name in COLUMNS}
    lines = [header, *(row.cells() for row in rows)]
    widths = {name: max(len(line[name]) for line in lines) for name in COLUMNS}
    numeric = {"matches", "inliers", "inlier_ratio", "pose_error_deg", "seconds"}
    text = []
    for line in lines:
        cells = [
            line[name].rjust(widths[name]) if name in numeric else line[name].ljust(widths[name]) for name in COLUMNS
        ]
        text.append("  ".join(cells).rstrip())
    return "\n".join(text)
