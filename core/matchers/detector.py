"""The protocol of detector-based matchers (hloc's extract/match split), what they share, and the feature cache.

An adapter detects an image's features once (`features`), in our pixel convention, and matches two images' features
(`match_features`) as index pairs into their keypoints. `match_detected` turns that into a MatchResult; a batch keeps
each image's features in a FeatureCache so that it detects each image once per settings.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.analysis.sizing import inference_size
from core.errors import MatchCancelled
from core.types import MatchOptions, MatchResult, RunInfo

ProgressCallback = Callable[[str, float], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True, eq=False)
class Features:
    """One image's detections. keypoints: (N, 2) float32 (x, y) in original-image pixels, pixel centres at integers;
    the rest is what the adapter's matcher needs, in the adapter's own form."""

    keypoints: np.ndarray
    descriptors: np.ndarray  # (N, D)
    scores: np.ndarray  # (N,) detection scores (the adapter's own scale)
    image_size: tuple[int, int]  # (height, width) of the original image
    inference_size: tuple[int, int]  # (height, width) the detector saw
    model_keypoints: np.ndarray  # (N, 2) the same keypoints in the adapter's frame of the detector's input

    def __len__(self) -> int:
        return len(self.keypoints)


@dataclass(frozen=True)
class Provenance:
    """What RunInfo records of an adapter: the package with its version, the SHA-256 of its weights file(s)."""

    package: str
    weights_sha256: str
    weights_source: str


class DetectorMatcher(Protocol):
    @property
    def name(self) -> str: ...

    def settings_key(self, options: MatchOptions) -> Hashable:
        """The options that decide an image's features (the cache key besides the image)."""
        ...

    def features(self, rgb: np.ndarray, options: MatchOptions) -> Features: ...

    def match_features(self, features0: Features, features1: Features) -> tuple[np.ndarray, np.ndarray]:
        """(M, 2) int64 indices into features0/features1 keypoints, and (M,) float32 scores in [0, 1]."""
        ...

    def provenance(self) -> Provenance: ...

    def run_device(self, options: MatchOptions) -> str:
        """Where it runs ("cpu", "cuda", ...), for RunInfo."""
        ...


def detector_input_size(image_size: tuple[int, int], options: MatchOptions) -> tuple[int, int]:
    """(height, width) an image is detected at: the options' long side or fixed size, per image (features must not
    depend on the other image of a pair), multiples of 32 like every model input here."""
    size = {"width": options.size[0], "height": options.size[1]} if options.size else None
    return inference_size(*image_size, size, options.long_side, bool(size or options.long_side))


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Our default resampling (area when shrinking, bilinear when enlarging) on 8-bit RGB."""
    import cv2

    if rgb.shape[:2] == (height, width):
        return rgb
    shrinking = height * width < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def to_original_pixels(points: np.ndarray, inference: tuple[int, int], original: tuple[int, int]) -> np.ndarray:
    """Detector-input pixels (centres at integers) to original pixels: (x + 0.5) * s - 0.5 per axis."""
    scale = np.array([original[1] / inference[1], original[0] / inference[0]], np.float64)
    return ((np.asarray(points, np.float64) + 0.5) * scale - 0.5).astype(np.float32)


class FeatureCache:
    """Features per (image identity, matcher, settings), least recently used dropped beyond `capacity`."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, Features] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Features | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, features: Features) -> None:
        with self._lock:
            self._items[key] = features
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def match_detected(
    adapter: DetectorMatcher,
    rgb0: np.ndarray,
    rgb1: np.ndarray,
    options: MatchOptions,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    cache: FeatureCache | None = None,
    identities: tuple[Hashable | None, Hashable | None] = (None, None),
) -> MatchResult:
    """Detect (or take from `cache`, keyed by each image's identity, e.g. its file's SHA-256) and match: the
    MatchResult best first, with the keypoint indices each match joins."""

    def check() -> None:
        if cancelled is not None and cancelled():
            raise MatchCancelled()

    timings = {"detect": 0.0, "match": 0.0}
    found: list[Features] = []
    cached = 0
    for side, (rgb, identity) in enumerate(zip((rgb0, rgb1), identities)):
        check()
        if progress:
            progress("detecting", side / 3)
        key = None if cache is None or identity is None else (identity, adapter.name, adapter.settings_key(options))
        features = cache.get(key) if cache is not None and key is not None else None
        if features is None:
            started = time.perf_counter()
            features = adapter.features(rgb, options)
            timings["detect"] += time.perf_counter() - started
            if cache is not None and key is not None:
                cache.put(key, features)
        else:
            cached += 1
        found.append(features)
    check()
    if progress:
        progress("matching", 2 / 3)
    started = time.perf_counter()
    indices, scores = adapter.match_features(found[0], found[1])
    timings["match"] = time.perf_counter() - started
    order = np.argsort(-scores, kind="stable")
    indices, scores = indices[order], np.clip(scores[order], 0.0, 1.0).astype(np.float32)
    source = adapter.provenance()
    notes = [f"{len(found[0])} and {len(found[1])} keypoints"]
    if cached:
        notes.append(f"features of {cached} image(s) from the cache")
    info = RunInfo(
        matcher=adapter.name,
        weights_source=source.weights_source,
        device=adapter.run_device(options),
        precision="fp32",
        inference_sizes=(found[0].inference_size, found[1].inference_size),
        internal_threshold=0.0,
        timings=timings,
        notes=tuple(notes),
        package=source.package,
        weights_sha256=source.weights_sha256,
    )
    if progress:
        progress("done", 1.0)
    return MatchResult(
        found[0].keypoints[indices[:, 0]],
        found[1].keypoints[indices[:, 1]],
        scores,
        (rgb0.shape[:2], rgb1.shape[:2]),
        info,
    )
