"""Our own check of a stored pair: F by MAGSAC++, the overlap verdict, and the relative pose when intrinsics exist.

`check_pairs` is the long-running form: a plain function with a result callback and a cancel check between pairs,
which the GUI runs on a background thread.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from core.analysis.geometry import GeometryOptions, estimate
from core.analysis.overlap import Overlap, check_overlap
from core.analysis.relative_pose import PoseError, RelativePose, estimate_relative_pose, pose_error
from core.runs.base import MatchingRun, RunOpenError, StoredPair
from core.runs.reference_poses import ReferencePoses

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class QuickCheck:
    inliers: int  # F inliers (0 when no F was found)
    ratio: float  # F inliers / matches
    status: str  # "ok" or why there is no F
    overlap: Overlap
    pose: RelativePose | None  # None without intrinsics for both images
    pose_error: PoseError | None  # None without a reference pose or a confident estimate


def check_pair(pair: StoredPair, reference: ReferencePoses | None = None) -> QuickCheck:
    result = pair.result
    fundamental = estimate(result.kpts0, result.kpts1, GeometryOptions(model="F"))
    overlap = check_overlap(result.kpts0, result.kpts1, result.image_sizes, fundamental.inliers)
    pose = error = None
    intrinsics0, intrinsics1 = pair.intrinsics
    if intrinsics0 is not None and intrinsics1 is not None:
        pose = estimate_relative_pose(result.kpts0, result.kpts1, intrinsics0, intrinsics1)
        truth = reference.relative(*pair.names) if reference is not None else None
        if truth is not None and pose.confident:
            assert pose.rotation is not None and pose.translation is not None
            error = pose_error(pose.rotation, pose.translation, *truth)
    return QuickCheck(fundamental.inlier_count, fundamental.inlier_ratio, fundamental.status, overlap, pose, error)


def check_pairs(
    run: MatchingRun,
    indices: Iterable[int],
    on_result: Callable[[int, QuickCheck | str], None],
    cancelled: Callable[[], bool] = lambda: False,
    reference: ReferencePoses | None = None,
    focal_px: float | None = None,
) -> None:
    """Check pairs in order; on_result gets (index, QuickCheck) or (index, message) for a pair that cannot be read.
    `focal_px`: a typed-in focal length for every image (see MatchingRun.read_pair)."""
    for index in indices:
        if cancelled():
            return
        try:
            outcome: QuickCheck | str = check_pair(run.read_pair(int(index), focal_px), reference)
        except RunOpenError as exc:
            outcome = str(exc)
        except Exception as exc:  # one bad pair must not end the run's check; the table shows why
            log.error("checking pair %s failed:\n%s", index, traceback.format_exc())
            outcome = f"check failed ({type(exc).__name__}: {exc})"
        on_result(int(index), outcome)


def describe(pair: StoredPair, check: QuickCheck | None) -> list[str]:
    """The pair's stored facts and our check, as lines for a summary panel."""
    lines = [f"{pair.names[0]}  ↔  {pair.names[1]}", f"{len(pair.result)} stored matches"]
    if pair.inliers is not None:
        geometry = f" ({pair.geometry})" if pair.geometry else ""
        lines.append(f"{int(np.count_nonzero(pair.inliers))} verified inliers stored{geometry}")
    else:
        lines.append("no verified inliers stored")
    lines.extend(pair.result.info.notes)  # what the reader left out or guessed (non-finite matches, unknown sizes)
    if check is None:
        return lines
    lines.append(
        f"our F check: {check.inliers} inliers ({check.ratio:.0%})" if check.status == "ok" else f"F: {check.status}"
    )
    coverage = check.overlap.coverage
    lines.append(f"overlap: {check.overlap.verdict} (covers {coverage[0]:.0%} / {coverage[1]:.0%} of the images)")
    pose = check.pose
    known = [k for k in pair.intrinsics if k is not None]
    if known:
        sources = sorted({f"{k.source}{', ' + k.note if k.note else ''}" for k in known})
        lines.append(f"intrinsics: {'; '.join(sources)}")
    if pose is None:
        lines.append("relative pose: intrinsics unknown (type a focal length)")
    elif pose.rotation is None:
        lines.append(f"relative pose: {pose.status}")
    else:
        lines.append(f"rotation {pose.rotation_deg:.2f}°, {pose.in_front} of {pose.inlier_count} inliers in front")
        if pose.translation is not None:
            t = pose.translation
            lines.append(f"translation direction ({t[0]:+.3f}, {t[1]:+.3f}, {t[2]:+.3f})")
        if pose.degeneracy is not None:
            lines.append(f"no confident pose: {pose.status}")
    if check.pose_error is not None:
        e = check.pose_error
        lines.append(f"pose error vs reference: R {e.rotation_deg:.2f}°, t {e.translation_deg:.2f}°")
    return lines
