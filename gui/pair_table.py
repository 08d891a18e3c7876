"""The pair browser's model, Qt-free: one row per pair of a matching run, sorted and filtered with numpy.

Views (the table, the image x image matrix) read it and listen to its events; none keeps a copy. Columns are numpy
arrays, so sorting or filtering 20,000 pairs is a few vectorised operations, not a Python loop.

"Inliers" is the best count known for a pair: the run's verified inliers, else our quick check's F inliers, else
unknown (-1). The "fewer than N inliers" filter also keeps unknown pairs whose raw matches alone are fewer than N.
Raw match counts of hloc files are read in the background after opening (unknown until then).

Events (psygnal, as the inspection model's): `rows_changed` when the visible rows or their order change,
`values_changed` when checks or counts arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from psygnal import Signal

from core.analysis.relative_pose import pose_auc
from core.runs.base import UNKNOWN, MatchingRun, RunOpenError, StoredPair
from core.runs.quick_check import QuickCheck
from core.runs.reference_poses import ReferencePoses


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = True


COLUMNS = (
    Column("pair", "Pair", numeric=False),
    Column("matches", "Matches"),
    Column("inliers", "Inliers"),
    Column("ratio", "Inlier ratio"),
    Column("geometry", "Geometry", numeric=False),
    Column("check", "Check (F)"),
    Column("overlap", "Overlap", numeric=False),
    Column("rotation", "Rotation °"),
    Column("pose_error", "Pose error °"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
OVERLAP_RANK = {"no overlap found": 0.0, "small overlap": 1.0, "overlap": 2.0}


@dataclass(frozen=True)
class PoseSummary:
    """The pose AUC of the checked pairs, and what it was computed on."""

    auc: tuple[float, ...] | None  # AUC@5/10/20, None when no checked pair has a reference pose
    pairs: int  # checked pairs with a reference pose: the AUC is over these
    without_pose: int  # of those, pairs with no confident estimate (they count as failed)

    def describe(self) -> str:
        if self.auc is None:
            return "pose AUC: no checked pair has a reference pose"
        text = (
            "pose AUC@5/10/20: "
            + " / ".join(f"{100 * v:.1f}" for v in self.auc)
            + f" over {self.pairs} pair{'s' if self.pairs != 1 else ''}"
        )
        if self.without_pose:
            text += f" ({self.without_pose} without a confident pose count as failed)"
        return text


class PairTable:
    rows_changed = Signal()  # the visible rows or their order changed
    values_changed = Signal()  # checks or counts arrived

    def __init__(self, run: MatchingRun, reference: ReferencePoses | None = None) -> None:
        self.run = run
        self.reference = reference  # poses to compare estimates with (a COLMAP model), if any
        pairs = run.pairs
        names = np.array([image.name for image in run.images], dtype=object)
        self.labels = (names[pairs.image0] + "  ↔  " + names[pairs.image1]).astype(str)
        self._lower = np.char.lower(self.labels)
        count = len(pairs)
        self._label_rank = np.empty(count, np.int64)
        self._label_rank[np.argsort(self.labels, kind="stable")] = np.arange(count)
        self.check_inliers = np.full(count, UNKNOWN, np.int64)
        self.overlap = np.full(count, "", dtype=object)
        self.rotation = np.full(count, np.nan)
        self.pose_error = np.full(count, np.nan)
        self.check_messages: dict[int, str] = {}
        self._checks: dict[int, QuickCheck] = {}
        self._sort: tuple[str, bool] = ("pair", False)
        self._max_inliers: int | None = None
        self._name_filter = ""
        self.order = np.arange(count)  # visible pair indices, in display order
        n = max(len(run.images), 1)  # pair lookup by image cell, for the matrix view
        keys = np.concatenate([pairs.image0 * n + pairs.image1, pairs.image1 * n + pairs.image0])
        by_key = np.argsort(keys, kind="stable")
        self._cell_keys, self._cell_pairs = keys[by_key], np.tile(np.arange(count), 2)[by_key]
        self._apply()

    # values
    def __len__(self) -> int:
        return len(self.labels)

    @property
    def inliers(self) -> np.ndarray:
        """Best known inlier count per pair (stored, else our check), UNKNOWN when neither exists."""
        stored = self.run.pairs.inliers
        return np.where(stored != UNKNOWN, stored, self.check_inliers)

    def sort_values(self, key: str) -> np.ndarray:
        """Per-pair values to sort by (NaN = unknown, always sorted last)."""
        pairs = self.run.pairs
        if key == "pair":
            return self._label_rank.astype(np.float64)
        if key == "matches":
            return np.where(pairs.matches == UNKNOWN, np.nan, pairs.matches.astype(np.float64))
        if key == "inliers":
            inliers = self.inliers.astype(np.float64)
            return np.where(inliers == UNKNOWN, np.nan, inliers)
        if key == "ratio":
            return self.ratio
        if key == "geometry":
            ranks = np.unique(pairs.geometry, return_inverse=True)[1].astype(np.float64)
            return np.where(pairs.geometry == "", np.nan, ranks)
        if key == "check":
            return np.where(self.check_inliers == UNKNOWN, np.nan, self.check_inliers.astype(np.float64))
        if key == "overlap":
            return np.array([OVERLAP_RANK.get(v, np.nan) for v in self.overlap], np.float64)
        if key == "rotation":
            return self.rotation
        if key == "pose_error":
            return self.pose_error
        raise KeyError(f"unknown column {key}")

    @property
    def ratio(self) -> np.ndarray:
        inliers = self.inliers.astype(np.float64)
        matches = self.run.pairs.matches.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((inliers == UNKNOWN) | (matches <= 0), np.nan, inliers / matches)

    def display(self, index: int, key: str) -> str:
        """The text a table cell shows for pair `index`."""
        pairs = self.run.pairs
        if key == "pair":
            return str(self.labels[index])
        if key == "matches":
            return "…" if pairs.matches[index] == UNKNOWN else str(int(pairs.matches[index]))
        if key == "inliers":
            value = int(self.inliers[index])
            return "–" if value == UNKNOWN else str(value)
        if key == "geometry":
            return str(pairs.geometry[index]) or "–"
        if key == "check":
            if index in self.check_messages:
                return "error"
            return "–" if self.check_inliers[index] == UNKNOWN else str(int(self.check_inliers[index]))
        if key == "overlap":
            return str(self.overlap[index]) or "–"
        if key == "ratio":
            inliers, matches = int(self.inliers[index]), int(pairs.matches[index])
            return "–" if inliers == UNKNOWN or matches <= 0 else f"{inliers / matches:.0%}"
        angle = float(getattr(self, key)[index])  # rotation, pose_error
        if np.isnan(angle) and key == "pose_error":
            return self.pose_error_missing(index)
        return "–" if np.isnan(angle) else f"{angle:.2f}"

    def pose_error_missing(self, index: int) -> str:
        """Why a pair shows no pose error: not checked, no reference pose, no focal length, or no confident pose."""
        check = self._checks.get(index)
        if check is None:
            return "–"
        if not self.has_reference(index):
            return "no ref."
        if check.pose is None:
            return "no focal"
        return "no pose"

    def pose_tooltip(self, index: int) -> str | None:
        """The full reason behind a pose error cell."""
        check = self._checks.get(index)
        if check is None:
            return None
        if not self.has_reference(index):
            return "one of the images is not registered in the reference model"
        if check.pose is None:
            return "no intrinsics for both images: type a focal length"
        if check.pose_error is None:
            return f"in the reference model, but no confident pose was estimated: {check.pose.status}"
        error = check.pose_error
        return f"rotation {error.rotation_deg:.2f}°, translation direction {error.translation_deg:.2f}°"

    # sorting and filtering
    def sort(self, key: str, descending: bool = False) -> None:
        if key not in COLUMN_KEYS:
            raise KeyError(f"unknown column {key}")
        self._sort = (key, descending)
        self._apply()

    def set_filter(self, fewer_inliers_than: int | None = None, name_contains: str = "") -> None:
        """Show pairs with fewer than N inliers (None: all) whose label contains the text (any case)."""
        self._max_inliers = fewer_inliers_than
        self._name_filter = name_contains.strip().lower()
        self._apply()

    def _apply(self) -> None:
        mask = np.ones(len(self), bool)
        if self._max_inliers is not None:
            inliers = self.inliers
            known = inliers != UNKNOWN
            matches = self.run.pairs.matches
            few_matches = (matches != UNKNOWN) & (matches < self._max_inliers)
            mask &= np.where(known, inliers < self._max_inliers, few_matches)
        if self._name_filter:
            mask &= np.char.find(self._lower, self._name_filter) >= 0
        visible = np.flatnonzero(mask)
        key, descending = self._sort
        values = self.sort_values(key)[visible]
        missing = np.isnan(values)
        ordered = visible[~missing][np.argsort(-values[~missing] if descending else values[~missing], kind="stable")]
        self.order = np.concatenate([ordered, visible[missing]])
        self.rows_changed.emit()

    def position_of(self, index: int) -> int | None:
        """Display row of pair `index`, None when the filter hides it."""
        found = np.flatnonzero(self.order == index)
        return int(found[0]) if len(found) else None

    # checks
    def check(self, index: int) -> QuickCheck | None:
        return self._checks.get(index)

    def set_check(self, index: int, outcome: QuickCheck | str, refresh: bool = True) -> None:
        """Store a quick-check result (or the message of a pair that could not be read)."""
        if isinstance(outcome, str):
            self.check_messages[index] = outcome
        else:
            self._checks[index] = outcome
            self.check_messages.pop(index, None)
            self.check_inliers[index] = outcome.inliers
            self.overlap[index] = outcome.overlap.verdict
            pose = outcome.pose
            self.rotation[index] = np.nan if pose is None or pose.rotation_deg is None else pose.rotation_deg
            self.pose_error[index] = np.nan if outcome.pose_error is None else outcome.pose_error.pose_deg
        if refresh:
            self.refresh()

    def clear_checks(self) -> None:
        """Forget every quick check (their poses used intrinsics that changed)."""
        self._checks.clear()
        self.check_messages.clear()
        self.check_inliers[:] = UNKNOWN
        self.overlap[:] = ""
        self.rotation[:] = np.nan
        self.pose_error[:] = np.nan
        self.refresh()

    def refresh(self) -> None:
        """Re-apply the filter and sort after values changed (checks arrive in batches)."""
        self._apply()
        self.values_changed.emit()

    def checked_count(self) -> int:
        return len(self._checks)

    def unchecked(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray([i for i in indices if int(i) not in self._checks], np.int64)

    def pose_auc(self) -> tuple[float, ...] | None:
        """AUC@5/10/20 over the checked pairs that have a reference pose (failed estimates count as infinite)."""
        return self.pose_summary().auc

    def pose_summary(self) -> PoseSummary:
        errors = [
            np.inf if check.pose_error is None else check.pose_error.pose_deg
            for index, check in self._checks.items()
            if check.pose is not None and self.has_reference(index)
        ]
        failed = int(np.count_nonzero(np.isinf(errors)))
        return PoseSummary(pose_auc(np.array(errors)) if errors else None, len(errors), failed)

    def has_reference(self, index: int) -> bool:
        return self.reference is not None and self.reference.relative(*self.run.pair_names(index)) is not None

    # the image x image view
    def pair_at(self, image_a: int, image_b: int) -> int | None:
        """The pair joining two images (either order), None when they were not matched."""
        n = max(len(self.run.images), 1)
        key = image_a * n + image_b
        position = int(np.searchsorted(self._cell_keys, key))
        found = position < len(self._cell_keys) and self._cell_keys[position] == key
        return int(self._cell_pairs[position]) if found else None


def emit_pair(read: Callable[[int], StoredPair], index: int, chosen: Any, failed: Any) -> None:
    """Read a pair and emit it, or emit why it cannot be read (the browser and the matrix both open pairs, through
    the browsing context, which passes the typed focal length)."""
    try:
        pair = read(index)
    except RunOpenError as exc:
        failed.emit(str(exc))
        return
    chosen.emit(pair)
