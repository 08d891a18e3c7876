"""Relative camera pose from matches: essential matrix by USAC/MAGSAC++ (OpenCV), R and t by the cheirality check.

Convention (OpenCV's and COLMAP's cam2_from_cam1): a point X in camera 0's frame is R @ X + t in camera 1's frame;
t is a unit direction, its scale is unknowable from two views.

Degenerate configurations are reported instead of a confident pose: when one homography explains the matches about
as well as the essential matrix (COLMAP's test, ratio 0.8), the scene is planar or the camera only rotated. Those
are told apart by the homography in normalized coordinates, which is a rotation (equal singular values) when there
is no baseline.

Pose errors and AUC follow the papers' evaluation (SuperGlue, LoFTR, LightGlue): the angular error of R, the angle
between translation directions up to sign, the pose error as the larger of the two, and the area under the
recall-vs-error curve up to 5, 10 and 20 degrees, divided by the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.geometry import GeometryOptions, estimate, sampson_distance
from core.analysis.intrinsics import Intrinsics

MIN_MATCHES = 5  # the five-point solver's minimum
AUC_THRESHOLDS_DEG = (5.0, 10.0, 20.0)


@dataclass(frozen=True)
class PoseOptions:
    threshold_px: float = 1.0  # epipolar (Sampson) inlier threshold, in pixels of the mean focal length
    confidence: float = 0.99999
    max_iters: int = 10_000
    homography_ratio: float = 0.8  # H inliers / E inliers from which the pair counts as planar or rotation-only
    min_inliers: int = 15  # fewer E inliers than this is no confident pose (random matches reach 5-10)
    rotation_tolerance: float = 0.02  # normalized H with singular value ratio below 1 + this: no baseline


@dataclass(frozen=True, eq=False)
class RelativePose:
    rotation: np.ndarray | None  # (3, 3); for a pure rotation, the rotation of the homography
    translation: np.ndarray | None  # (3,) unit direction; None without a baseline
    essential: np.ndarray | None  # (3, 3) in normalized coordinates
    inliers: np.ndarray  # (N,) bool: epipolar inliers of E
    in_front: int  # inliers triangulated in front of both cameras
    sampson_px: np.ndarray  # (N,) Sampson error of each match under E, in pixels; NaN without E
    homography_inliers: int
    degeneracy: str | None  # None, "pure rotation", "planar scene" or "too few inliers"
    status: str  # "ok", or what is wrong, in words for the user

    @property
    def confident(self) -> bool:
        """A pose to trust: R and t from E, no degenerate configuration."""
        return self.rotation is not None and self.translation is not None and self.degeneracy is None

    @property
    def rotation_deg(self) -> float | None:
        return None if self.rotation is None else rotation_angle_deg(self.rotation)

    @property
    def inlier_count(self) -> int:
        return int(self.inliers.sum())


def rotation_angle_deg(rotation: np.ndarray) -> float:
    cosine = (np.trace(rotation) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def relative_from_absolute(
    rotation0: np.ndarray, translation0: np.ndarray, rotation1: np.ndarray, translation1: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """cam1_from_cam0 from two cam_from_world poses (R, t)."""
    rotation = rotation1 @ rotation0.T
    return rotation, translation1 - rotation @ translation0


def estimate_relative_pose(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    intrinsics0: Intrinsics,
    intrinsics1: Intrinsics,
    options: PoseOptions | None = None,
) -> RelativePose:
    """R, t between the two cameras from matched pixels; never raises for too few or degenerate matches."""
    import cv2

    options = options or PoseOptions()
    kpts0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    kpts1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    n = len(kpts0)
    nothing = np.zeros(n, bool)
    if n < MIN_MATCHES:
        return _failed(n, f"not enough matches for a relative pose (need {MIN_MATCHES}, have {n})")
    if not (np.all(np.isfinite(kpts0)) and np.all(np.isfinite(kpts1))):
        return _failed(n, "matches contain non-finite coordinates")
    normalized0, normalized1 = intrinsics0.normalize(kpts0), intrinsics1.normalize(kpts1)
    focal = (intrinsics0.mean_focal + intrinsics1.mean_focal) / 2
    try:
        essential, mask = cv2.findEssentialMat(
            normalized0,
            normalized1,
            np.eye(3),
            method=cv2.USAC_MAGSAC,
            prob=options.confidence,
            threshold=options.threshold_px / focal,
            maxIters=options.max_iters,
        )
    except cv2.error as exc:
        return _failed(n, f"no essential matrix found ({str(exc).strip().splitlines()[-1][:80]})")
    if essential is None or essential.shape[1:] != (3,) or mask is None or not np.all(np.isfinite(essential)):
        return _failed(n, "no essential matrix found: the matches are degenerate")
    e_inliers = mask.ravel().astype(bool)
    best: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
    for candidate in np.split(essential, len(essential) // 3):  # some solvers return several solutions
        count, rotation, translation, _ = cv2.recoverPose(
            candidate, normalized0, normalized1, np.eye(3), mask=e_inliers.astype(np.uint8)[:, None].copy()
        )
        if best is None or count > best[0]:
            best = (int(count), candidate, rotation, translation.ravel())
    assert best is not None
    in_front, essential, rotation, translation = best
    k0_inv, k1_inv = np.linalg.inv(intrinsics0.matrix), np.linalg.inv(intrinsics1.matrix)
    sampson = sampson_distance(k1_inv.T @ essential @ k0_inv, kpts0, kpts1)
    homography = estimate(kpts0, kpts1, GeometryOptions(model="H", threshold_px=options.threshold_px))
    h_inliers = homography.inlier_count if homography.ok else 0
    direction = translation / np.linalg.norm(translation)

    def pose(degeneracy: str | None, status: str, rotation_: np.ndarray = rotation) -> RelativePose:
        translation_ = None if degeneracy == "pure rotation" else direction
        return RelativePose(
            rotation_, translation_, essential, e_inliers, in_front, sampson, h_inliers, degeneracy, status
        )

    if homography.ok and h_inliers >= options.homography_ratio * max(int(e_inliers.sum()), 1):
        assert homography.matrix is not None
        normalized_h = k1_inv @ homography.matrix @ intrinsics0.matrix
        u, singular, vt = np.linalg.svd(normalized_h)
        if singular[0] / singular[2] < 1 + options.rotation_tolerance:
            pure = u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt  # the nearest rotation
            return pose(
                "pure rotation", "pure rotation: the camera did not move, so the translation is undefined", pure
            )
        return pose(
            "planar scene",
            f"planar scene: one homography explains {h_inliers} of {int(e_inliers.sum())} inliers, "
            "so the pose from E is ambiguous",
        )
    if int(e_inliers.sum()) < options.min_inliers:
        return pose(
            "too few inliers",
            f"too few inliers for a confident pose ({int(e_inliers.sum())}, need {options.min_inliers})",
        )
    if in_front == 0:
        return RelativePose(
            None, None, essential, nothing, 0, sampson, h_inliers, None, "no inlier lies in front of both cameras"
        )
    return pose(None, "ok")


def _failed(n: int, status: str) -> RelativePose:
    return RelativePose(None, None, None, np.zeros(n, bool), 0, np.full(n, np.nan), 0, None, status)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


@dataclass(frozen=True)
class PoseError:
    rotation_deg: float
    translation_deg: float  # angle between directions up to sign (the sign of t is not observable from E)

    @property
    def pose_deg(self) -> float:
        return max(self.rotation_deg, self.translation_deg)


def pose_error(
    rotation: np.ndarray, translation: np.ndarray, reference_rotation: np.ndarray, reference_translation: np.ndarray
) -> PoseError:
    rotation_error = rotation_angle_deg(rotation.T @ reference_rotation)
    translation_error = angle_between_deg(translation, reference_translation)
    return PoseError(rotation_error, min(translation_error, 180.0 - translation_error))


def pose_auc(errors_deg: np.ndarray, thresholds_deg: tuple[float, ...] = AUC_THRESHOLDS_DEG) -> tuple[float, ...]:
    """Area under the recall curve of pose errors up to each threshold, over the threshold (papers' definition).

    The recall curve goes through (0, 0) and (e_k, k / n) for the sorted errors e_k, linearly between them, and
    stays flat from the last error below the threshold up to it. Failed pairs count with an infinite error.
    """
    errors = np.sort(np.nan_to_num(np.asarray(errors_deg, np.float64), nan=np.inf))
    if len(errors) == 0:
        raise ValueError("pose AUC needs at least one pose error")
    recall = np.arange(1, len(errors) + 1) / len(errors)
    errors, recall = np.r_[0.0, errors], np.r_[0.0, recall]
    aucs = []
    for threshold in thresholds_deg:
        below = int(np.searchsorted(errors, threshold))
        x = np.r_[errors[:below], threshold]
        y = np.r_[recall[:below], recall[below - 1]]
        aucs.append(float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / threshold))
    return tuple(aucs)
