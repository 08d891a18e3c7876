from __future__ import annotations

import numpy as np
import pytest

from core.analysis.synthetic import homography_pair, textured_scene, warp
from core.matchers.eloftr import MatchCancelled
from core.matchers.match import match_pair
from core.model import WeightsError
from core.types import MatchOptions


@pytest.fixture(scope="module")
def shifted_pair():
    scene = textured_scene(300, 400, 21)
    return scene, warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))


def test_match_pair_returns_numpy_in_original_pixels(random_weights, shifted_pair):
    stages = []
    options = MatchOptions(weights=random_weights, long_side=320, internal_threshold=0.0)
    result = match_pair(*shifted_pair, options, progress=lambda stage, _: stages.append(stage))
    assert len(result) > 0
    assert result.kpts0.dtype == np.float32 and result.scores.dtype == np.float32
    assert np.all(np.diff(result.scores) <= 0), "best matches first"
    for kpts, (h, w) in zip((result.kpts0, result.kpts1), result.image_sizes):
        assert kpts[:, 0].max() < w and kpts[:, 1].max() < h
    assert result.image_sizes == ((300, 400), (300, 400))
    assert result.info.inference_sizes == ((256, 320), (256, 320))  # 240 rounds to 256
    assert stages[:1] == ["loading model"] and stages[-1] == "done"
    assert list(dict.fromkeys(s for s in stages if s in ("backbone", "transformer", "coarse", "fine"))) == [
        "backbone",
        "transformer",
        "coarse",
        "fine",
    ]
    assert set(result.info.timings) >= {"backbone", "transformer", "coarse", "fine"}


def test_internal_threshold_is_a_floor(random_weights, shifted_pair):
    low = match_pair(*shifted_pair, MatchOptions(weights=random_weights, long_side=320, internal_threshold=0.0))
    high = match_pair(*shifted_pair, MatchOptions(weights=random_weights, long_side=320, internal_threshold=0.5))
    assert len(high) < len(low)
    assert high.scores.min() > 0.5
    # The high-threshold run is exactly the low-threshold run filtered.
    kept = low.subset(low.scores > 0.5)
    np.testing.assert_allclose(np.sort(kept.scores), np.sort(high.scores), atol=1e-6)


def test_cancel_between_stages(random_weights, shifted_pair):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(MatchCancelled):
        match_pair(*shifted_pair, MatchOptions(weights=random_weights, long_side=320), cancelled=cancelled)


def test_no_weights_is_a_weights_error_with_instructions(shifted_pair):
    with pytest.raises(WeightsError, match="hf download"):
        match_pair(*shifted_pair, MatchOptions(weights=None))


def test_sift_baseline_agrees_with_known_homography():
    pair = homography_pair(480, 640, seed=4, strength=0.06)
    result = match_pair(pair.image0, pair.image1, MatchOptions(matcher="sift"))
    from core.analysis.synthetic import project

    assert len(result) > 50
    error = np.linalg.norm(project(pair.homography, result.kpts0.astype(np.float64)) - result.kpts1, axis=1)
    assert np.mean(error < 2.0) > 0.8
    assert result.scores.min() > 0.2 - 1e-6 and result.scores.max() <= 1.0


def test_bad_device_is_a_value_error(random_weights, shifted_pair):
    with pytest.raises(ValueError, match="device"):
        match_pair(*shifted_pair, MatchOptions(weights=random_weights, device="tpu"))


def test_seed_style_api_round_trip(random_weights, shifted_pair):
    """The README's snippet: processor -> model(**inputs) -> post-process -> visualise."""
    import torch

    from core.model import EfficientLoFTRForKeypointMatching
    from core.processor import EfficientLoFTRImageProcessor

    processor = EfficientLoFTRImageProcessor(long_side=320)
    model = EfficientLoFTRForKeypointMatching.from_pretrained(random_weights).fuse()
    model.coarse_threshold = 0.0
    inputs = processor(list(shifted_pair), return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**inputs)
    sizes = [[image.shape[:2] for image in shifted_pair]]
    matches = processor.post_process_keypoint_matching(outputs, sizes, threshold=0.0)[0]
    assert len(matches["matching_scores"]) > 10
    assert matches["keypoints0"].dtype == torch.float32 and matches["keypoints0"].shape[1] == 2
    # The same matches as the app's entry point (both in original pixels; fused vs optimised numerics aside).
    app = match_pair(*shifted_pair, MatchOptions(weights=random_weights, long_side=320, internal_threshold=0.0))
    assert abs(len(app) - len(matches["matching_scores"])) <= 1
    pictures = processor.visualize_keypoint_matching(list(shifted_pair), [matches])
    assert pictures[0].size == (400 + 400, 300)
