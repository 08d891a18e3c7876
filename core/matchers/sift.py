"""Classical baseline: SIFT keypoints, mutual ratio-tested nearest neighbours (OpenCV).

Score mapping to [0, 1]: score = 1 - d1 / d2, where d1 and d2 are the distances to the nearest and second-nearest
descriptor in the other image (Lowe's ratio). A match passes the ratio test (d1/d2 < 0.8) only when its score is
above 0.2, so the usual 0.2 display threshold shows exactly the ratio-test survivors and higher thresholds are
stricter ratio tests.
"""

from __future__ import annotations

import time

import numpy as np

from core.errors import MatchCancelled
from core.types import MatchResult, RunInfo

RATIO = 0.8
MAX_FEATURES = 8000
MAX_SIDE = 1600  # SIFT runs on a downscaled copy of larger images; coordinates are mapped back


def _gray_for_sift(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return gray, scale


def match_sift(rgb0, rgb1, progress=None, cancelled=None) -> MatchResult:  # type: ignore[no-untyped-def]
    import cv2

    timings: dict[str, float] = {}
    started = time.perf_counter()
    sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)  # type: ignore[attr-defined]
    features = []
    sizes = []
    for index, rgb in enumerate((rgb0, rgb1)):
        if cancelled is not None and cancelled():
            raise MatchCancelled()
        if progress:
            progress("detecting", index / 3)
        gray, scale = _gray_for_sift(rgb)
        keypoints, descriptors = sift.detectAndCompute(gray, None)
        points = np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2)
        # OpenCV keypoints are pixel-centre based like ours; undo the downscale.
        features.append(((points + 0.5) / scale - 0.5, descriptors))
        sizes.append(gray.shape)
    timings["detect"] = time.perf_counter() - started
    if cancelled is not None and cancelled():
        raise MatchCancelled()
    if progress:
        progress("matching", 2 / 3)
    started = time.perf_counter()
    (pts0, desc0), (pts1, desc1) = features
    kpts0 = np.zeros((0, 2), np.float32)
    kpts1 = np.zeros((0, 2), np.float32)
    scores = np.zeros((0,), np.float32)
    if desc0 is not None and desc1 is not None and len(desc0) >= 2 and len(desc1) >= 2:
        matcher = cv2.BFMatcher(cv2.NORM_L2)
        forward = matcher.knnMatch(desc0, desc1, k=2)
        backward = {m[0].queryIdx: m[0].trainIdx for m in matcher.knnMatch(desc1, desc0, k=2) if m}
        rows = []
        for pair in forward:
            if len(pair) < 2:
                continue
            best, second = pair
            if backward.get(best.trainIdx) != best.queryIdx:
                continue  # not mutual
            score = 1.0 - best.distance / max(second.distance, 1e-9)
            if score > 1 - RATIO:
                rows.append((best.queryIdx, best.trainIdx, score))
        if rows:
            index0, index1, values = (np.array(c) for c in zip(*rows))
            order = np.argsort(-values, kind="stable")
            kpts0 = pts0[index0[order].astype(int)].astype(np.float32)
            kpts1 = pts1[index1[order].astype(int)].astype(np.float32)
            scores = values[order].astype(np.float32)
            # SIFT puts several orientations on one spot: keep the best match of each pair of locations.
            _, first = np.unique(np.round(np.concatenate([kpts0, kpts1], 1), 2), axis=0, return_index=True)
            keep = np.sort(first)
            kpts0, kpts1, scores = kpts0[keep], kpts1[keep], scores[keep]
    timings["match"] = time.perf_counter() - started
    info = RunInfo(
        matcher="sift",
        weights_source="OpenCV SIFT (no weights)",
        device="cpu",
        precision="fp32",
        inference_sizes=(sizes[0], sizes[1]),
        internal_threshold=1 - RATIO,
        timings=timings,
        notes=("scores are 1 - d1/d2 (Lowe ratio)",),
    )
    if progress:
        progress("done", 1.0)
    return MatchResult(kpts0, kpts1, scores, (rgb0.shape[:2], rgb1.shape[:2]), info)
