"""Geometric verification of matches: homography or fundamental matrix by USAC/MAGSAC++ (OpenCV), per-match residuals.

Residuals are in pixels: for H the RMS of the forward and backward transfer distances (symmetric transfer error);
for F the Sampson distance (first-order geometric distance to the epipolar constraint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

GeometryModel = Literal["H", "F", "none"]
Verdict = Literal["reliable", "unreliable", "no model"]
MIN_MATCHES = {"H": 4, "F": 8}  # the estimators' minimal input
# A fit supported by little more than its minimal sample fits almost anything (4 of 6 matches always agree on some H):
# below these inlier counts, or this inlier share, it is shown as unreliable rather than as a verified model.
RELIABLE_INLIERS = {"H": 8, "F": 15}
RELIABLE_INLIER_RATIO = 0.2


@dataclass(frozen=True)
class GeometryOptions:
    model: GeometryModel = "F"
    threshold_px: float = 3.0
    confidence: float = 0.999
    max_iters: int = 10_000


@dataclass(frozen=True, eq=False)
class GeometryResult:
    model: GeometryModel
    matrix: np.ndarray | None  # 3x3, maps image 0 to image 1 (H) or x1^T F x0 = 0 (F)
    inliers: np.ndarray  # (N,) bool, all False without a model
    residuals: np.ndarray  # (N,) float pixels, NaN without a model
    status: str  # "ok", or why there is no model, in words for the user
    threshold_px: float = 3.0

    @property
    def ok(self) -> bool:
        return self.matrix is not None

    @property
    def inlier_count(self) -> int:
        return int(self.inliers.sum())

    @property
    def inlier_ratio(self) -> float:
        return float(self.inliers.mean()) if len(self.inliers) else 0.0

    def subset(self, mask: np.ndarray) -> GeometryResult:
        """The same model with the flags and residuals of the chosen matches only."""
        return GeometryResult(
            self.model, self.matrix, self.inliers[mask], self.residuals[mask], self.status, self.threshold_px
        )


def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points, np.ones((len(points), 1))], axis=1)


def transfer(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapped = _homogeneous(points) @ homography.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return mapped[:, :2] / mapped[:, 2:3]


def symmetric_transfer_error(homography: np.ndarray, kpts0: np.ndarray, kpts1: np.ndarray) -> np.ndarray:
    forward = np.linalg.norm(transfer(homography, kpts0) - kpts1, axis=1)
    try:
        backward = np.linalg.norm(transfer(np.linalg.inv(homography), kpts1) - kpts0, axis=1)
    except np.linalg.LinAlgError:
        backward = np.full(len(kpts0), np.inf)
    return np.nan_to_num(np.sqrt((forward**2 + backward**2) / 2), nan=np.inf)


def sampson_distance(fundamental: np.ndarray, kpts0: np.ndarray, kpts1: np.ndarray) -> np.ndarray:
    x0, x1 = _homogeneous(kpts0), _homogeneous(kpts1)
    f_x0 = x0 @ fundamental.T  # epipolar lines in image 1
    ft_x1 = x1 @ fundamental  # epipolar lines in image 0
    algebraic = np.sum(x1 * f_x0, axis=1)
    denominator = f_x0[:, 0] ** 2 + f_x0[:, 1] ** 2 + ft_x1[:, 0] ** 2 + ft_x1[:, 1] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.abs(algebraic) / np.sqrt(denominator), nan=np.inf)


def epipolar_line(fundamental: np.ndarray, point: np.ndarray, in_image: int) -> np.ndarray:
    """Line (a, b, c), a x + b y + c = 0 with a^2 + b^2 = 1, in image `in_image` for a point of the other image."""
    p = np.array([point[0], point[1], 1.0])
    line = fundamental @ p if in_image == 1 else fundamental.T @ p
    return line / max(np.hypot(line[0], line[1]), 1e-12)


def _degenerate_reason(kpts0: np.ndarray, kpts1: np.ndarray, needed: int) -> str | None:
    for name, pts in (("image 0", kpts0), ("image 1", kpts1)):
        unique = np.unique(np.round(pts, 3), axis=0)
        if len(unique) < needed:
            return f"only {len(unique)} distinct points in {name}"
        centred = unique - unique.mean(axis=0)
        singular = np.linalg.svd(centred, compute_uv=False)
        if singular[-1] < 1e-6 * max(singular[0], 1e-9) or singular[-1] < 1e-3:
            return f"the points in {name} are collinear"
    return None


def estimate(kpts0: np.ndarray, kpts1: np.ndarray, options: GeometryOptions | None = None) -> GeometryResult:
    """Fit H or F to the matches; never raises for too few or degenerate matches (see `status`)."""
    import cv2

    options = options or GeometryOptions()
    kpts0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    kpts1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    n = len(kpts0)
    empty = GeometryResult(options.model, None, np.zeros(n, bool), np.full(n, np.nan), "", options.threshold_px)
    if options.model == "none":
        return _with_status(empty, "no geometric model chosen")
    if not (np.all(np.isfinite(kpts0)) and np.all(np.isfinite(kpts1))):
        return _with_status(empty, "matches contain non-finite coordinates")
    needed = MIN_MATCHES[options.model]
    if n < needed:
        return _with_status(empty, f"not enough matches for {options.model} (need {needed}, have {n})")
    reason = _degenerate_reason(kpts0, kpts1, needed)
    if reason is not None:
        return _with_status(empty, f"not enough matches for {options.model}: {reason}")
    try:
        if options.model == "H":
            matrix, _ = cv2.findHomography(
                kpts0,
                kpts1,
                cv2.USAC_MAGSAC,
                options.threshold_px,
                maxIters=options.max_iters,
                confidence=options.confidence,
            )
        else:
            matrix, _ = cv2.findFundamentalMat(
                kpts0, kpts1, cv2.USAC_MAGSAC, options.threshold_px, options.confidence, options.max_iters
            )
    except cv2.error as exc:
        return _with_status(empty, f"no {options.model} found ({str(exc).strip().splitlines()[-1][:80]})")
    if matrix is None or matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        return _with_status(empty, f"no {options.model} found: the matches are degenerate for this model")
    if options.model == "H":
        residuals = symmetric_transfer_error(matrix, kpts0, kpts1)
    else:
        residuals = sampson_distance(matrix, kpts0, kpts1)
    inliers = residuals <= options.threshold_px
    return GeometryResult(options.model, matrix, inliers, residuals, "ok", options.threshold_px)


def _with_status(result: GeometryResult, status: str) -> GeometryResult:
    return GeometryResult(result.model, None, result.inliers, result.residuals, status, result.threshold_px)


def warp_onto_first(rgb1: np.ndarray, homography: np.ndarray, size0: tuple[int, int]) -> np.ndarray:
    """Image 1 resampled into image 0's frame (H maps image 0 to image 1), size0 = (height, width)."""
    import cv2

    h, w = size0
    return cv2.warpPerspective(
        rgb1,
        np.linalg.inv(homography),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def checkerboard(a: np.ndarray, b: np.ndarray, tile: int = 64) -> np.ndarray:
    """Alternating tiles of two same-sized images: misalignment shows as broken edges at tile borders."""
    rows = (np.arange(a.shape[0]) // tile)[:, None]
    cols = (np.arange(a.shape[1]) // tile)[None, :]
    mask = ((rows + cols) % 2 == 0)[..., None]
    return np.where(mask, a, b)


def from_matrix(
    model: GeometryModel, matrix: np.ndarray, kpts0: np.ndarray, kpts1: np.ndarray, threshold_px: float
) -> GeometryResult:
    """A saved model applied to matches again (sessions restore geometry exactly, without a new random fit)."""
    kpts0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    kpts1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    matrix = np.asarray(matrix, np.float64)
    residuals = (symmetric_transfer_error if model == "H" else sampson_distance)(matrix, kpts0, kpts1)
    return GeometryResult(model, matrix, residuals <= threshold_px, residuals, "ok", threshold_px)


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    label: str  # for the user, e.g. "F: 812 inliers of 1,204 (67.4%)" or "H unreliable: 4 inliers of 6 ..."


def assess(model: GeometryModel, ok: bool, inlier_count: int, support: int, status: str = "") -> Assessment:
    """How far to trust a fit with `inlier_count` inliers among the `support` matches it was judged on."""
    if model == "none":
        return Assessment("no model", "no geometric model chosen")
    minimal = MIN_MATCHES[model]
    if not ok:
        return Assessment("no model", f"{model}: no model ({status})" if status else f"{model}: no model")
    if inlier_count < minimal:
        return Assessment(
            "no model", f"{model}: no model (only {inlier_count} inliers, the minimal sample is {minimal})"
        )
    ratio = inlier_count / support if support else 0.0
    counts = f"{inlier_count:,} inliers of {support:,} ({100 * ratio:.1f}%)"
    if inlier_count < RELIABLE_INLIERS[model] or ratio < RELIABLE_INLIER_RATIO:
        need = f"needs ≥{RELIABLE_INLIERS[model]} inliers and ≥{100 * RELIABLE_INLIER_RATIO:.0f}%"
        return Assessment("unreliable", f"{model} unreliable: {counts}; {need}")
    return Assessment("reliable", f"{model}: {counts}")


def fit_and_apply(kpts0: np.ndarray, kpts1: np.ndarray, fit_on: np.ndarray, options: GeometryOptions) -> GeometryResult:
    """Estimate on the matches in `fit_on` (a mask), then residuals and inlier flags for every match.

    Colours and counts can then follow any threshold or box selection without a new fit for each.
    """
    fitted = estimate(kpts0[fit_on], kpts1[fit_on], options)
    n = len(kpts0)
    if not fitted.ok or fitted.matrix is None:
        return GeometryResult(
            fitted.model, None, np.zeros(n, bool), np.full(n, np.nan), fitted.status, fitted.threshold_px
        )
    return from_matrix(fitted.model, fitted.matrix, kpts0, kpts1, options.threshold_px)


def clip_line(a: float, b: float, c: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Segment of a x + b y + c = 0 inside [0, width] x [0, height] (empty when it misses the image)."""
    points = []
    if abs(b) > 1e-12:
        for x in (0.0, float(width)):
            y = -(a * x + c) / b
            if 0 <= y <= height:
                points.append((x, y))
    if abs(a) > 1e-12:
        for y in (0.0, float(height)):
            x = -(b * y + c) / a
            if 0 <= x <= width:
                points.append((x, y))
    if len(points) < 2:
        return np.zeros(0), np.zeros(0)
    points = sorted(set(points))
    return np.array([points[0][0], points[-1][0]]), np.array([points[0][1], points[-1][1]])


def epipolar_segment(
    fundamental: np.ndarray, point0: np.ndarray, size1: tuple[int, int]
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The epipolar line of an image-0 point, clipped to image 1 (size1 = (height, width)); None if it misses."""
    a, b, c = epipolar_line(fundamental, np.asarray(point0, np.float64), in_image=1)
    xs, ys = clip_line(a, b, c, size1[1], size1[0])
    if len(xs) != 2:
        return None
    return (float(xs[0]), float(ys[0])), (float(xs[1]), float(ys[1]))
