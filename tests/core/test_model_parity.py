"""Our EfficientLoFTR against the original implementation, with the same random weights (see tests/reference.py)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from core.analysis.synthetic import random_homography, textured_scene, warp
from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
from core.model.coarse import confidence_matrix
from core.model.weights import load_weights_into
from tests.reference import calibrated_reference, gray_tensor, reference_state_dict, run_reference

pytest.importorskip("efficientloftr_inference")

KPT_TOL = 1e-3  # pixels
SCORE_TOL = 1e-4
# Where both implementations run the pair tests (the stage tests stay on the CPU): benchmarks/gpu_check.sh sets cuda.
DEVICE = os.environ.get("MATCH_INSPECTOR_TEST_DEVICE", "cpu")


def _pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    scene = textured_scene(480, 640, 3)
    portrait = textured_scene(544, 384, 7)  # 17:12, not 4:3
    rotation = np.array([[0.99, -0.06, 14.0], [0.06, 0.99, -9.0], [0, 0, 1.0]])
    return {
        "landscape_homography": (scene, warp(scene, random_homography(480, 640, 5, 0.04))),
        "portrait_rotation": (portrait, warp(portrait, rotation)),
        "different_sizes": (scene, warp(scene, np.diag([0.8, 0.8, 1.0]), size=(384, 512))),
        # Nothing to match: a featureless image against a textured one.
        "blank": (np.full((256, 320, 3), 128, np.uint8), textured_scene(256, 320, 9)),
    }


@dataclass
class PairRun:
    reference: dict
    ours: object
    image0: torch.Tensor
    image1: torch.Tensor


@pytest.fixture(scope="module")
def models():
    reference = calibrated_reference(seed=0)
    ours = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig())
    load_weights_into(ours, reference_state_dict(reference), "reference")
    return reference, ours


def _to_cpu(value):
    return value.cpu() if isinstance(value, torch.Tensor) else value


@pytest.fixture(scope="module")
def runs(models) -> dict[str, PairRun]:
    reference, ours = models
    if DEVICE != "cpu":  # full fp32 on the GPU too: TF32 would round the products to 10 bits of mantissa
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        reference, ours = copy.deepcopy(reference).to(DEVICE), copy.deepcopy(ours).to(DEVICE)
    results = {}
    for name, (rgb0, rgb1) in _pairs().items():
        image0, image1 = gray_tensor(rgb0), gray_tensor(rgb1)
        ref = run_reference(reference, image0.to(DEVICE), image1.to(DEVICE))
        with torch.inference_mode():
            out = ours(pixel_values0=image0.to(DEVICE), pixel_values1=image1.to(DEVICE))
        ref = {key: _to_cpu(value) for key, value in ref.items()}
        fields = ("matches", "matching_scores", "pixel_keypoints", "coarse_keypoints")
        out = replace(out, **{field: _to_cpu(getattr(out, field)) for field in fields})
        results[name] = PairRun(ref, out, image0, image1)
    return results


def _ours_arrays(out) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    valid = out.matches[0, 0] >= 0
    return (  # model-input pixels (out.keypoints are normalised, as in transformers)
        out.pixel_keypoints[0, 0][valid].numpy(),
        out.pixel_keypoints[0, 1][valid].numpy(),
        out.matching_scores[0, 0][valid].numpy(),
        out.coarse_keypoints[0, 0][valid].numpy(),
        out.coarse_keypoints[0, 1][valid].numpy(),
    )


def _ref_coarse_corners(ref: dict) -> tuple[np.ndarray, np.ndarray]:
    w0, w1 = ref["hw0_c"][1], ref["hw1_c"][1]
    i, j = ref["i_ids"].numpy(), ref["j_ids"].numpy()
    return np.stack([i % w0, i // w0], 1) * 8.0, np.stack([j % w1, j // w1], 1) * 8.0


@pytest.mark.parametrize("name", ["landscape_homography", "portrait_rotation", "different_sizes"])
def test_same_matches_keypoints_and_scores_as_original(runs, name):
    run = runs[name]
    kpts0, kpts1, scores, corners0, corners1 = _ours_arrays(run.ours)
    ref = run.reference
    ref_corners0, ref_corners1 = _ref_coarse_corners(ref)
    assert 10 <= len(ref["mconf"]), "the calibrated weights should give matches on this pair"
    # Identical match sets: the same coarse cells paired, in the same order.
    np.testing.assert_array_equal(corners0, ref_corners0)
    np.testing.assert_array_equal(corners1, ref_corners1)
    assert np.abs(kpts0 - ref["mkpts0_f"].numpy()).max() <= KPT_TOL
    assert np.abs(kpts1 - ref["mkpts1_f"].numpy()).max() <= KPT_TOL
    assert np.abs(scores - ref["mconf"].numpy()).max() <= SCORE_TOL
    # Sub-pixel: the second stage moves image-1 keypoints off the pixel grid.
    assert np.any(np.abs(kpts1 - np.round(kpts1 * 2) / 2) > 1e-3)


def test_blank_pair_gives_no_matches_in_both(runs):
    run = runs["blank"]
    assert len(run.reference["mconf"]) == 0
    assert run.ours.keypoints.shape[2] == 0


def test_stage_backbone(models, runs):
    reference, ours = models
    run = runs["landscape_homography"]
    with torch.inference_mode():
        ref = reference.backbone(torch.cat([run.image0, run.image1]))
        feats0, _ = ours._features(run.image0, run.image1)
    torch.testing.assert_close(feats0[-1], ref["feats_c"][:1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(feats0[1], ref["feats_x2"][:1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(feats0[0], ref["feats_x1"][:1], atol=1e-4, rtol=1e-4)


def test_stage_transformer_and_coarse_confidence(models, runs):
    reference, ours = models
    run = runs["portrait_rotation"]
    with torch.inference_mode():
        coarse = reference.backbone(torch.cat([run.image0, run.image1]))["feats_c"]
        ref0, ref1 = reference.loftr_coarse(coarse[:1], coarse[1:])
        our0, our1 = ours.efficientloftr.local_feature_transformer(coarse[:1], coarse[1:])
        torch.testing.assert_close(our0, ref0, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(our1, ref1, atol=1e-4, rtol=1e-4)
        conf = confidence_matrix(our0.flatten(2).transpose(1, 2), our1.flatten(2).transpose(1, 2), 0.1, False)
    torch.testing.assert_close(conf, run.reference["conf_matrix"], atol=1e-5, rtol=1e-4)


def test_stage_fine_first_stage_offsets(runs):
    """The first fine stage snaps to whole pixels at offsets of +-0.5 .. 3.5 from the cell corner, like the original."""
    run = runs["landscape_homography"]
    kpts0, _, _, corners0, _ = _ours_arrays(run.ours)
    offsets = kpts0 - corners0
    assert np.all(np.abs(offsets) <= 3.5) and np.allclose(offsets % 1, 0.5)
    np.testing.assert_allclose(kpts0, run.reference["mkpts0_f"].numpy(), atol=KPT_TOL)


def test_fused_backbone_gives_the_same_matches(models, runs):
    _, ours = models
    import copy

    fused = copy.deepcopy(ours).optimize_for_inference()  # fused RepVGG + folded BatchNorm + channels-last
    assert fused.efficientloftr.backbone.is_fused
    run = runs["landscape_homography"]
    with torch.inference_mode():
        out = fused(pixel_values0=run.image0, pixel_values1=run.image1)
    a, b = _ours_arrays(run.ours), _ours_arrays(out)
    np.testing.assert_array_equal(a[3], b[3])
    np.testing.assert_array_equal(a[4], b[4])
    np.testing.assert_allclose(a[0], b[0], atol=KPT_TOL)
    np.testing.assert_allclose(a[1], b[1], atol=KPT_TOL)
    # Folding BatchNorm into the convs reorders float sums; through 20 conv layers and the 0.1 softmax temperature
    # that moves scores by up to ~1e-3 (the original's reparameter() does the same).
    np.testing.assert_allclose(a[2], b[2], atol=2e-3)


def test_windows_gathered_through_the_upsampling_equal_the_unfolded_full_map():
    """The fine windows are read straight from the half-resolution map; the original upsamples, pads, unfolds."""
    import torch.nn.functional as F

    from core.model.fine import gather_windows_upsampled

    torch.manual_seed(0)
    half = torch.randn(2, 5, 12, 16)
    full = F.interpolate(half, scale_factor=2.0, mode="bilinear", align_corners=False)  # (2, 5, 24, 32)
    coarse_w, stride = 4, 8
    batch_ids = torch.tensor([0, 1, 1, 0, 1])
    cells = torch.tensor([0, 3, 5, 11, 10])  # corners and borders of the 3 x 4 coarse grid
    for size, pad in ((8, 0), (10, 1)):
        unfolded = F.unfold(full, kernel_size=size, stride=stride, padding=pad)  # the original's windows
        expected = unfolded.reshape(2, 5, size * size, -1).permute(0, 3, 2, 1)[batch_ids, cells]
        got = gather_windows_upsampled(half, batch_ids, cells, coarse_w, size, pad, (24, 32))
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
