"""Cancel lands between the blocks of a stage, and progress moves block by block, without changing the numbers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from core.analysis.synthetic import textured_scene, warp
from core.errors import MatchCancelled
from core.matchers.match import match_pair
from core.model import EfficientLoFTRForKeypointMatching, StageHooks
from core.model.efficientloftr import STAGES
from core.types import MatchOptions
from tests.reference import gray_tensor

CANCEL_WITHIN = 0.5  # seconds from the cancel check turning true to the run giving up


def _pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    scene = textured_scene(height, width, 3)
    return scene, warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))


def test_cancel_during_the_backbone_of_a_1024_run_lands_within_half_a_second(random_weights):
    """The matcher as the window runs it (fused model, 1024x768): the flag is set from another thread while the
    backbone runs, as the service's reader thread sets it; the time from setting it to the exception is measured."""
    options = MatchOptions(weights=random_weights, size=(1024, 768))
    flag = threading.Event()
    set_at: list[float] = []
    stages: list[str] = []

    def set_flag() -> None:
        set_at.append(time.perf_counter())
        flag.set()

    def progress(stage: str, fraction: float) -> None:
        if stage == "backbone" and "backbone" not in stages:  # the backbone begins
            threading.Timer(0.15, set_flag).start()  # a moment into it, in the middle of a block
        stages.append(stage)

    image0, image1 = _pair(768, 1024)
    with pytest.raises(MatchCancelled):
        match_pair(image0, image1, options, progress=progress, cancelled=flag.is_set)
    latency = time.perf_counter() - set_at[0]
    assert stages[-1] == "backbone", f"the flag was set during the backbone, the run got to {stages[-1]}"
    assert latency < CANCEL_WITHIN, f"cancel took {latency:.2f} s"


@pytest.fixture(scope="module")
def model(random_weights):
    return EfficientLoFTRForKeypointMatching.from_pretrained(random_weights).optimize_for_inference()


@pytest.mark.parametrize("sizes", [((256, 320), (256, 320)), ((256, 320), (224, 288))], ids=["batched", "two sizes"])
def test_progress_moves_block_by_block(model, sizes):
    (h0, w0), (h1, w1) = sizes
    image0, image1 = _pair(max(h0, h1), max(w0, w1))
    a, b = gray_tensor(image0[:h0, :w0]), gray_tensor(image1[:h1, :w1])
    reports: list[tuple[str, float]] = []
    checks: list[str] = []
    hooks = StageHooks(progress=lambda stage, f: reports.append((stage, f)), cancelled=lambda: bool(checks.append("")))
    model.coarse_threshold = 0.0
    with torch.inference_mode():
        output = model(pixel_values0=a, pixel_values1=b, hooks=hooks)
    assert int((output.matches[0, 0] >= 0).sum()) > 0
    fractions = [f for _, f in reports]
    assert fractions == sorted(fractions), "progress never goes back"
    assert len(set(fractions)) > 4 * len(STAGES), "more than one report per stage: block by block"
    assert [s for s in dict.fromkeys(stage for stage, _ in reports)] == list(STAGES)
    assert fractions[0] == 0.0 and fractions[-1] == pytest.approx(1.0)
    for stage in ("backbone", "transformer", "fine"):
        assert len({f for s, f in reports if s == stage}) >= 5, stage
    assert len(checks) >= len(reports), "the cancel check runs wherever progress is reported"


def test_hooks_leave_the_outputs_unchanged(model):
    image0, image1 = _pair(256, 320)
    a, b = gray_tensor(image0), gray_tensor(image1)
    model.coarse_threshold = 0.0
    with torch.inference_mode():
        plain = model(pixel_values0=a, pixel_values1=b)
        hooked = model(pixel_values0=a, pixel_values1=b, hooks=StageHooks(lambda *_: None, lambda: False))
    for name in ("matches", "matching_scores", "pixel_keypoints"):
        torch.testing.assert_close(getattr(hooked, name), getattr(plain, name), rtol=0, atol=0)
