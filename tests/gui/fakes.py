"""A fast numpy matcher with the same call shape as core.matchers.match.match_pair, for GUI logic tests."""

from __future__ import annotations

import threading
import time

import numpy as np

from core.errors import MatchCancelled
from core.types import MatchResult, RunInfo


class FakeMatcher:
    """Returns `count` matches along a known shift; can be slowed down or blocked to test races."""

    def __init__(self, count: int = 500, delay: float = 0.0, shift: tuple[float, float] = (12.0, -7.0)) -> None:
        self.count = count
        self.delay = delay
        self.shift = np.array(shift, np.float32)
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()
        self.seen: list[tuple[tuple[int, int], tuple[int, int]]] = []

    def __call__(self, image0, image1, options, progress=None, cancelled=None) -> MatchResult:
        self.calls += 1
        h0, w0 = image0.size
        h1, w1 = image1.size
        self.seen.append(((h0, w0), (h1, w1)))
        for index, stage in enumerate(("backbone", "transformer", "coarse", "fine")):
            if progress:
                progress(stage, index / 4)
            deadline = time.monotonic() + self.delay / 4
            while time.monotonic() < deadline or not self.gate.is_set():
                if cancelled is not None and cancelled():
                    raise MatchCancelled()
                time.sleep(0.002)
        rng = np.random.default_rng(self.calls)
        kpts0 = rng.uniform([0, 0], [w0 - 1, h0 - 1], (self.count, 2)).astype(np.float32)
        kpts1 = np.clip(kpts0 + self.shift, 0, [w1 - 1, h1 - 1]).astype(np.float32)
        scores = np.sort(rng.uniform(0, 1, self.count).astype(np.float32))[::-1].copy()
        info = RunInfo("fake", "none", "cpu", "fp32", ((h0, w0), (h1, w1)), 0.0, {"fine": 0.001})
        return MatchResult(kpts0, kpts1, scores, ((h0, w0), (h1, w1)), info)


class NoisyMatcher(FakeMatcher):
    """Matches along the shift with endpoint errors spread over 0-8 px: the inlier threshold decides what passes."""

    def __call__(self, image0, image1, options, progress=None, cancelled=None) -> MatchResult:
        from dataclasses import replace

        result = super().__call__(image0, image1, options, progress, cancelled)
        rng = np.random.default_rng(100 + self.calls)
        angle = rng.uniform(0, 2 * np.pi, len(result))
        radius = rng.uniform(0, 8, len(result))
        noise = np.stack([np.cos(angle), np.sin(angle)], axis=1) * radius[:, None]
        return replace(result, kpts1=(result.kpts1 + noise).astype(np.float32))


class UnrelatedMatcher(FakeMatcher):
    """`count` matches between unrelated random points, all scored above 0.5: any fitted model is a fluke."""

    def __init__(self, count: int = 12, seed: int = 0) -> None:
        super().__init__(count=count)
        self.seed = seed

    def __call__(self, image0, image1, options, progress=None, cancelled=None) -> MatchResult:
        from dataclasses import replace

        result = super().__call__(image0, image1, options, progress, cancelled)
        rng = np.random.default_rng(self.seed)
        (h0, w0), (h1, w1) = result.image_sizes
        kpts0 = rng.uniform([0, 0], [w0 - 1, h0 - 1], (self.count, 2)).astype(np.float32)
        kpts1 = rng.uniform([0, 0], [w1 - 1, h1 - 1], (self.count, 2)).astype(np.float32)
        scores = np.linspace(1.0, 0.5, self.count).astype(np.float32)
        return replace(result, kpts0=kpts0, kpts1=kpts1, scores=scores)
