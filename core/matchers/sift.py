"""SIFT as COLMAP does it: pycolmap's own extraction and matching where pycolmap is installed, else OpenCV with
COLMAP's rules (RootSIFT, up to 8192 features, mutual nearest neighbours, ratio 0.8, angular distance <= 0.7).

Size: an image larger than the options' long side (or fixed size) is downscaled first, with aspect kept, as COLMAP's
`max_image_size` does; SIFT never enlarges (long_side None: full resolution). COLMAP puts pixel centres at +0.5, so its
keypoints come back as x * s - 0.5; OpenCV's are centre-based already: (x + 0.5) * s - 0.5.

Scores in [0, 1]: 1 - d1/d2, d1 and d2 the angular distances from a match's image-0 descriptor to its nearest and
second-nearest descriptor in image 1 (Lowe's ratio, as COLMAP measures it), found exhaustively. Every match passed
COLMAP's ratio test (d1/d2 < 0.8), so nearly all score above 0.2 (COLMAP's own search is approximate and now and then
misses a second-nearest); higher thresholds are stricter ratio tests.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from core.matchers.detector import Features, Provenance
from core.types import MatchOptions

MAX_FEATURES = 8192  # COLMAP's SiftExtractionOptions.max_num_features
MAX_RATIO = 0.8  # COLMAP's SiftMatchingOptions.max_ratio
MAX_DISTANCE = 0.7  # COLMAP's SiftMatchingOptions.max_distance (angle between descriptors, radians)
# OpenCV's contrast threshold is divided by its 3 layers per octave; COLMAP's peak threshold is 0.02 / 3.
OPENCV_CONTRAST_THRESHOLD = 0.02
EDGE_THRESHOLD = 10.0  # COLMAP's and OpenCV's


def has_pycolmap() -> bool:
    from importlib.util import find_spec

    return find_spec("pycolmap") is not None


def sift_size(image_size: tuple[int, int], options: MatchOptions) -> tuple[int, int]:
    """(height, width) SIFT runs at: downscaled to the long side (or into the fixed size), aspect kept, never up."""
    height, width = image_size
    if options.size is not None:
        scale = min(options.size[0] / width, options.size[1] / height)
    elif options.long_side is not None:
        scale = options.long_side / max(height, width)
    else:
        scale = 1.0
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def _gray(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    if gray.shape[:2] != (height, width):
        gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(gray)


def _pycolmap() -> Any:
    import pycolmap

    # pycolmap's logging (glog) prints a stack trace on SIGTERM, which is how a batch ends its idle workers: the
    # default action is all that signal needs (only the main thread may set it; the workers match there).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return pycolmap


@cache
def _colmap_extractor() -> Any:
    pycolmap = _pycolmap()

    options = pycolmap.FeatureExtractionOptions()  # SIFT, 8192 features, RootSIFT (L1_ROOT): COLMAP's defaults
    options.sift.max_num_features = MAX_FEATURES
    return pycolmap.FeatureExtractor.create(options, device=pycolmap.Device.cpu)


@cache
def _colmap_matcher() -> Any:
    pycolmap = _pycolmap()

    options = pycolmap.FeatureMatchingOptions()  # brute force, cross check, ratio 0.8, max distance 0.7
    options.sift.max_ratio = MAX_RATIO
    options.sift.max_distance = MAX_DISTANCE
    options.sift.cross_check = True
    return pycolmap.FeatureMatcher.create(options, device=pycolmap.Device.cpu)


def detect_colmap(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pycolmap's SIFT: keypoints (x, y) with pixel centres at +0.5 (COLMAP's frame), uint8 RootSIFT descriptors."""
    keypoints, descriptors = _colmap_extractor().extract_from_uint8_array(gray)
    points = np.array([(k.x, k.y) for k in keypoints], np.float64).reshape(-1, 2)
    return points, np.asarray(descriptors.data, np.uint8).reshape(-1, 128)


def match_colmap(descriptors0: np.ndarray, descriptors1: np.ndarray) -> np.ndarray:
    """pycolmap's SIFT matcher on two uint8 descriptor sets: (M, 2) indices."""
    import pycolmap

    sets = []
    for data in (descriptors0, descriptors1):
        wrapped = pycolmap.FeatureDescriptors()
        wrapped.data = np.ascontiguousarray(data, np.uint8)
        wrapped.type = pycolmap.FeatureExtractorType.SIFT
        sets.append(wrapped)
    empty = pycolmap.FeatureKeypoints()  # the SIFT matcher does not use keypoints
    found = _colmap_matcher().match(empty, sets[0], empty, sets[1])
    return np.asarray(found, np.int64).reshape(-1, 2)


def detect_opencv(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's SIFT with COLMAP's settings: keypoints with pixel centres at integers, RootSIFT (float32, unit)."""
    import cv2

    sift = cv2.SIFT_create(  # type: ignore[attr-defined]
        nfeatures=MAX_FEATURES, contrastThreshold=OPENCV_CONTRAST_THRESHOLD, edgeThreshold=EDGE_THRESHOLD
    )
    keypoints, descriptors = sift.detectAndCompute(gray, None)
    points = np.array([k.pt for k in keypoints], np.float64).reshape(-1, 2)
    if descriptors is None:
        return points, np.zeros((0, 128), np.float32)
    return points, root_sift(descriptors)


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic & Zisserman 2012), as COLMAP's L1_ROOT normalisation: unit L2 vectors."""
    values = np.asarray(descriptors, np.float32)
    values = np.sqrt(values / np.maximum(values.sum(1, keepdims=True), 1e-12))
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def _unit(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT descriptors as unit float vectors: COLMAP stores them scaled to uint8, ours are unit already."""
    if descriptors.dtype != np.uint8:
        return descriptors
    values = descriptors.astype(np.float32)
    return values / np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)


def _angles(descriptors0: np.ndarray, descriptors1: np.ndarray) -> np.ndarray:
    """Angles between descriptors (rows of 0 against rows of 1), COLMAP's SIFT distance."""
    return np.arccos(np.clip(_unit(descriptors0) @ _unit(descriptors1).T, -1.0, 1.0))


def match_opencv(descriptors0: np.ndarray, descriptors1: np.ndarray) -> np.ndarray:
    """COLMAP's matching rules on RootSIFT: mutual nearest, ratio < 0.8, angle <= 0.7. (M, 2) indices."""
    if len(descriptors0) < 2 or len(descriptors1) < 2:
        return np.zeros((0, 2), np.int64)
    angles = _angles(descriptors0, descriptors1)
    best1 = np.argmin(angles, 1)
    best0 = np.argmin(angles, 0)
    rows = np.arange(len(angles))
    two = np.partition(angles, 1, axis=1)[:, :2]
    keep = (best0[best1] == rows) & (two[:, 0] <= MAX_DISTANCE) & (two[:, 0] < MAX_RATIO * two[:, 1])
    return np.stack([rows[keep], best1[keep]], 1).astype(np.int64)


def ratio_scores(descriptors0: np.ndarray, descriptors1: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """1 - d1/d2 of each match's image-0 descriptor against image 1 (the module's score)."""
    if len(indices) == 0 or len(descriptors1) < 2:
        return np.ones(len(indices), np.float32)
    angles = _angles(descriptors0[indices[:, 0]], descriptors1)
    two = np.partition(angles, 1, axis=1)[:, :2]
    return (1.0 - two[:, 0] / np.maximum(two[:, 1], 1e-9)).astype(np.float32)


@cache
def _provenance(colmap: bool) -> Provenance:
    from importlib.metadata import version

    if colmap:
        return Provenance(f"pycolmap {version('pycolmap')}", "", "COLMAP SIFT (no weights)")
    import cv2

    return Provenance(f"opencv {cv2.__version__}", "", "OpenCV SIFT with COLMAP's rules (no weights)")


@dataclass(frozen=True)
class SiftMatcher:
    name: str = "sift"
    colmap: bool = True  # pycolmap's SIFT; False: OpenCV with COLMAP's rules

    def settings_key(self, options: MatchOptions) -> Hashable:
        return ("sift", self.colmap, MAX_FEATURES, options.long_side, options.size)

    def features(self, rgb: np.ndarray, options: MatchOptions) -> Features:
        height, width = sift_size(rgb.shape[:2], options)
        gray = _gray(rgb, height, width)
        scale = np.array([rgb.shape[1] / width, rgb.shape[0] / height])
        if self.colmap:
            points, descriptors = detect_colmap(gray)
            original = points * scale - 0.5  # COLMAP's corner-origin frame to ours
        else:
            points, descriptors = detect_opencv(gray)
            original = (points + 0.5) * scale - 0.5
        return Features(
            keypoints=original.astype(np.float32),
            descriptors=descriptors,
            scores=np.ones(len(points), np.float32),
            image_size=(int(rgb.shape[0]), int(rgb.shape[1])),
            inference_size=(height, width),
            model_keypoints=points.astype(np.float32),
        )

    def match_features(self, features0: Features, features1: Features) -> tuple[np.ndarray, np.ndarray]:
        if len(features0) == 0 or len(features1) == 0:
            return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
        if self.colmap:
            indices = match_colmap(features0.descriptors, features1.descriptors)
        else:
            indices = match_opencv(features0.descriptors, features1.descriptors)
        return indices, ratio_scores(features0.descriptors, features1.descriptors, indices)

    def provenance(self) -> Provenance:
        return _provenance(self.colmap)

    def run_device(self, options: MatchOptions) -> str:
        return "cpu"
