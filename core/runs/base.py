"""A whole matching run opened for browsing: its images, one row per pair, and any pair's matches on demand.

Opening reads the image list and, per pair, the image indices and counts; a pair's keypoints and matches are read
only when `read_pair` asks for them. Matches come back as a MatchResult in the frame the file stores (images as the
file stores them, without EXIF rotation), in the project's pixel convention (pixel centres at integers), sorted best
first like core.matchers.eloftr's results, with the file's verified inlier flags (same order) where it has them. Matches
whose keypoints or score are NaN or infinite are left out, and the pair's notes (`result.info.notes`) say how many.

A run whose stored data cannot be used (an array of the wrong shape or type, an index past the keypoints, a missing
dataset) raises RunOpenError from `open_run`, `read_pair` and `count_matches`, one line naming the file, the pair
and what is wrong; core.formats.stored_arrays holds the checks the readers share.

`open_run` accepts a COLMAP database, an hloc features.h5 / matches.h5 pair, or a folder holding either (or the
per-pair files of `match-inspector batch`).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from core.analysis.intrinsics import Intrinsics, from_exif
from core.types import MatchResult

UNKNOWN = -1  # a count the file does not have (e.g. verified inliers in hloc files)


class RunOpenError(ValueError):
    """A matching run that cannot be opened or read; the message is one line for the user."""


@dataclass(frozen=True)
class RunImage:
    name: str  # as the run names it, relative to the image folder
    size: tuple[int, int] | None  # (height, width) in the frame the file stores; None when the run does not say
    intrinsics: Intrinsics | None = None


@dataclass(frozen=True, eq=False)
class PairRows:
    """One row per pair, as numpy columns (fast to sort and filter for tens of thousands of pairs)."""

    image0: np.ndarray  # (P,) int: index into the run's images
    image1: np.ndarray
    matches: np.ndarray  # (P,) int: raw matches stored
    inliers: np.ndarray  # (P,) int: verified inliers stored, UNKNOWN when the file has none
    geometry: np.ndarray  # (P,) str: the file's two-view geometry type ("calibrated", "planar", ...), "" if none

    def __len__(self) -> int:
        return len(self.image0)


@dataclass(frozen=True, eq=False)
class KeypointMatches:
    """Every pair's matches as the run's own keypoint ids, all pairs at once: what a correspondence graph (COLMAP's,
    core.tracks) is built from. Runs whose pairs carry their own coordinates (batch folders) have no such ids."""

    keypoints: tuple[np.ndarray, ...]  # per image of the run: (K, 2) float32, our pixel convention
    pair: np.ndarray  # (M,) int32: row of each match's pair in the run's pairs
    keypoint0: np.ndarray  # (M,) int32: keypoint id in the pair's image0
    keypoint1: np.ndarray  # (M,) int32: keypoint id in the pair's image1
    scores: np.ndarray  # (M,) float32; 1 where the run stores no scores
    verified: bool  # the run's verified matches (True) or, where it has no verification, its raw ones


Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, eq=False)
class StoredPair:
    """Everything the inspector needs to show one pair of a run."""

    index: int  # row in the run's pairs
    names: tuple[str, str]
    image_paths: tuple[Path | None, Path | None]  # None when no image folder holds the file
    result: MatchResult  # coordinates in the frame the file stores (see exif_applied)
    inliers: np.ndarray | None  # (N,) bool, the file's verified inliers; None when the file has no verification
    geometry: str  # the file's two-view geometry type, "" if none
    intrinsics: tuple[Intrinsics | None, Intrinsics | None] = (None, None)
    stored_pose: tuple[np.ndarray, np.ndarray] | None = None  # (R, t) cam1_from_cam0 stored by the file
    matrices: dict[str, np.ndarray] = field(default_factory=dict)  # stored "F", "E", "H" where present
    exif_applied: bool = False  # coordinates refer to the EXIF-rotated image (load images with apply_exif=this)


class MatchingRun(ABC):
    """Base of the readers; subclasses fill `images` and `pairs` on open and implement `_read_pair`."""

    kind: str = ""  # the format, in words
    exif_applied: bool = False  # keypoints refer to the EXIF-rotated images (load them with apply_exif=this)

    def __init__(self, source: Path, image_dir: Path | None) -> None:
        self.source = source
        self.image_dir = image_dir
        self.images: tuple[RunImage, ...] = ()
        empty = np.zeros(0, np.int64)
        self.pairs = PairRows(empty, empty, empty, empty, np.zeros(0, str))
        self._lock = threading.Lock()  # readers may be called from a background check and the GUI thread

    def read_pair(self, index: int, focal_px: float | None = None) -> StoredPair:
        """Pair `index` with its matches and intrinsics; `focal_px`, a focal length the user typed, overrides the
        file's cameras and EXIF for both images (the caller owns that setting: the run keeps no copy)."""
        if not 0 <= index < len(self.pairs):
            raise IndexError(f"pair {index} is not in this run ({len(self.pairs)} pairs)")
        with self._lock:
            pair = self._read_pair(index)
        pair = _best_first(_finite_only(pair))
        return replace(pair, intrinsics=(self._intrinsics(pair, 0, focal_px), self._intrinsics(pair, 1, focal_px)))

    def damaged(self, index: int, exc: Exception) -> RunOpenError:
        """The error for pair `index` when its stored data cannot be used (raised by the readers' checks)."""
        # KeyError's str() quotes its message; the readers' messages are its first argument.
        reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        lines = reason.strip().splitlines() or [type(exc).__name__]
        name0, name1 = self.pair_names(index)
        return RunOpenError(f"{self.source.name}: cannot read pair {name0} – {name1} ({lines[0]})")

    def _intrinsics(self, pair: StoredPair, side: int, focal_px: float | None) -> Intrinsics | None:
        """A typed-in focal length wins; else the file's camera; else EXIF of the image file; else unknown."""
        size = pair.result.image_sizes[side]
        if focal_px is not None:
            return Intrinsics.from_focal(focal_px, size)
        stored = pair.intrinsics[side]
        if stored is not None:
            return stored
        path = pair.image_paths[side]
        if path is None:
            return None
        try:
            found = from_exif(path)
        except (OSError, ValueError, SyntaxError):  # an unreadable image or EXIF block: no intrinsics from it
            return None
        if found is None or (found.cx * 2 + 1, found.cy * 2 + 1) != (size[1], size[0]):
            return None  # EXIF of an image whose size differs from the run's: not the frame the matches use
        return found

    @abstractmethod
    def _read_pair(self, index: int) -> StoredPair: ...

    def keypoint_matches(
        self, progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False
    ) -> KeypointMatches | None:
        """All matches as keypoint ids (verified where the run has verification), or None when the run's pairs
        carry their own coordinates. Raises RunOpenError, or MatchCancelled once `cancelled` turns true."""
        return None

    def count_matches(self, index: int) -> int:
        """The raw match count of a pair, reading it where opening left it UNKNOWN (hloc files)."""
        return int(self.pairs.matches[index])

    def uncounted(self) -> np.ndarray:
        """Pairs whose match count is not read yet."""
        return np.flatnonzero(self.pairs.matches == UNKNOWN)

    def close(self) -> None:  # noqa: B027 - readers without open handles need nothing
        """Release file handles."""

    def __enter__(self) -> MatchingRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def pair_names(self, index: int) -> tuple[str, str]:
        return self.images[int(self.pairs.image0[index])].name, self.images[int(self.pairs.image1[index])].name

    def stored_pair(
        self,
        index: int,
        names: tuple[str, str],
        result: MatchResult,
        inliers: np.ndarray | None = None,
        geometry: str = "",
        **extra: Any,
    ) -> StoredPair:
        """A pair as the readers return it: names, the image files found for them, matches and the rest."""
        paths = (self.image_path(names[0]), self.image_path(names[1]))
        return StoredPair(index, names, paths, result, inliers, geometry, **extra)

    def image_path(self, name: str) -> Path | None:
        if self.image_dir is None:
            return None
        path = self.image_dir / name
        return path if path.is_file() else None

    def image_size(self, index: int, fallback_points: np.ndarray) -> tuple[tuple[int, int], str]:
        """(height, width) of image `index`: from the run, else the image file's header, else the keypoint extent."""
        image = self.images[index]
        if image.size is not None:
            return image.size, ""
        path = self.image_path(image.name)
        if path is not None:
            from PIL import Image

            try:
                with Image.open(path) as handle:
                    return (handle.height, handle.width), ""
            except OSError:
                pass
        usable = fallback_points[np.isfinite(fallback_points).all(axis=1)]  # NaN keypoints are dropped later
        extent = np.ceil(usable.max(axis=0) + 1) if len(usable) else np.array([1.0, 1.0])
        return (int(extent[1]), int(extent[0])), f"size of {image.name} unknown: taken from its keypoints"


def _finite_only(pair: StoredPair) -> StoredPair:
    """The pair without its matches whose keypoint (in either image) or score is NaN or infinite, noted in its info:
    such a match cannot be drawn or checked, and one NaN spoils every statistic of the pair (score range, F, pose)."""
    result = pair.result
    points_ok = np.isfinite(result.kpts0).all(axis=1) & np.isfinite(result.kpts1).all(axis=1)
    keep = points_ok & np.isfinite(result.scores)
    if keep.all():
        return pair
    notes = []
    for count, reason in (
        (np.count_nonzero(~points_ok), "non-finite keypoints"),
        (np.count_nonzero(points_ok & ~keep), "a non-finite score"),
    ):
        if count:
            notes.append(f"dropped {count} {'match' if count == 1 else 'matches'} with {reason}")
    info = replace(result.info, notes=result.info.notes + tuple(notes))
    kept = replace(result.subset(keep), info=info)
    return replace(pair, result=kept, inliers=None if pair.inliers is None else pair.inliers[keep])


def _best_first(pair: StoredPair) -> StoredPair:
    """Matches sorted by score, best first (stable), as core.matchers.eloftr returns them and the inspector expects."""
    scores = pair.result.scores
    if not np.any(np.diff(scores) > 0):
        return pair
    order = np.argsort(-scores, kind="stable")
    result = pair.result
    sorted_result = MatchResult(
        result.kpts0[order], result.kpts1[order], scores[order], result.image_sizes, result.info
    )
    return replace(pair, result=sorted_result, inliers=None if pair.inliers is None else pair.inliers[order])


def count_pairs(
    run: MatchingRun,
    indices: Iterable[int],
    on_count: Callable[[int, int | str], None],
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Read the match counts opening left unknown; on_count gets (index, count) or (index, message)."""
    for index in indices:
        if cancelled():
            return
        try:
            outcome: int | str = run.count_matches(int(index))
        except RunOpenError as exc:  # the readers raise nothing else for a damaged pair
            outcome = f"cannot count the matches of pair {index} ({exc})"
        on_count(int(index), outcome)
