"""Any image size: the model pads to its size multiple and keeps the padding out of the coarse matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.analysis.synthetic import textured_scene, warp
from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching, EfficientLoFTRModel
from core.model.coarse import confidence_maxima, image_cells, match_mask
from tests.reference import gray_tensor

# Not multiples of 32: the model runs on 224x320, with coarse cells 24..27 (rows) and 36..39 (columns) padding.
HEIGHT, WIDTH = 194, 290


@pytest.fixture(scope="module")
def model(random_weights):
    return EfficientLoFTRForKeypointMatching.from_pretrained(random_weights)


@pytest.fixture(scope="module")
def pair():
    scene = textured_scene(HEIGHT, WIDTH, 21)
    return gray_tensor(scene), gray_tensor(warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]])))


def _matched(output, b: int = 0) -> torch.Tensor:
    """(2, M, 2) pixel keypoints of the matches of pair b."""
    return output.pixel_keypoints[b][:, output.matches[b, 0] >= 0]


def _in_padding(keypoints: torch.Tensor, height: int, width: int) -> int:
    """How many matches have a keypoint beyond the image (in either image)."""
    outside = (keypoints[..., 0] >= width) | (keypoints[..., 1] >= height) | (keypoints < 0).any(-1)
    return int(outside.any(0).sum())


def test_padding_attracts_matches_that_the_model_keeps_out(model, pair):
    image0, image1 = pair
    pad = (0, 320 - WIDTH, 0, 224 - HEIGHT)
    with torch.inference_mode():
        # The same padded tensors the model builds, given as an unpadded 224x320 input: nothing is masked.
        unmasked = model(pixel_values0=F.pad(image0, pad), pixel_values1=F.pad(image1, pad))
        output = model(pixel_values0=image0, pixel_values1=image1)
    assert _in_padding(_matched(unmasked), HEIGHT, WIDTH) > 5  # the black padding of both images matches itself
    kpts = _matched(output)
    assert kpts.shape[1] > 20
    assert _in_padding(kpts, HEIGHT, WIDTH) == 0
    # Reported for the input: its size, keypoints normalised by it, coarse cells wholly inside it.
    assert output.input_sizes == ((HEIGHT, WIDTH), (HEIGHT, WIDTH))
    valid = output.matches[0, 0] >= 0
    torch.testing.assert_close(
        output.keypoints[0][:, valid], kpts / torch.tensor([WIDTH, HEIGHT], dtype=torch.float32), rtol=0, atol=1e-6
    )
    cells = output.coarse.cells[0][:, valid]
    assert output.coarse.grids == ((28, 40), (28, 40))
    assert int((cells // 40).max()) < HEIGHT // 8 and int((cells % 40).max()) < WIDTH // 8


def test_batched_padded_pairs_give_the_same_matches_as_one_by_one(model, pair):
    other = textured_scene(HEIGHT, WIDTH, 5)
    second = (gray_tensor(other), gray_tensor(warp(other, np.diag([0.95, 0.95, 1.0]))))
    with torch.inference_mode():
        batched = model(pixel_values0=torch.cat([pair[0], second[0]]), pixel_values1=torch.cat([pair[1], second[1]]))
        singles = [model(pixel_values0=a, pixel_values1=b) for a, b in (pair, second)]
    for b, single in enumerate(singles):
        assert _matched(batched, b).shape[1] == single.matches.shape[2] > 10
        torch.testing.assert_close(_matched(batched, b), _matched(single), rtol=0, atol=1e-4)
        assert _in_padding(_matched(batched, b), HEIGHT, WIDTH) == 0


def test_pairs_padded_to_a_common_size_are_cropped_then_padded_each_to_its_own(model, pair):
    """Unequal sizes, neither a multiple of 32, as processor-style input: (B, 2, 3, H, W) zero-padded to a common
    size with input_sizes; the model crops each image back, then pads it to its own multiple of 32."""
    image1 = pair[1][..., :150, :230]
    pixel_values = torch.zeros(1, 2, 3, HEIGHT, WIDTH)
    pixel_values[:, 0] = pair[0]
    pixel_values[:, 1, :, :150, :230] = image1
    input_sizes = torch.tensor([[[HEIGHT, WIDTH], [150, 230]]])
    with torch.inference_mode():
        output = model(pixel_values=pixel_values, input_sizes=input_sizes)
        direct = model(pixel_values0=pair[0], pixel_values1=image1)
    assert output.input_sizes == ((HEIGHT, WIDTH), (150, 230))
    assert torch.equal(output.matches, direct.matches)
    torch.testing.assert_close(output.pixel_keypoints, direct.pixel_keypoints, rtol=0, atol=1e-5)
    kpts = _matched(output)
    assert kpts.shape[1] > 10
    assert _in_padding(kpts[:1], HEIGHT, WIDTH) == 0 and _in_padding(kpts[1:], 150, 230) == 0


def test_base_model_pads_too(random_weights, pair):
    base = EfficientLoFTRModel.from_pretrained(random_weights)
    with torch.inference_mode():
        coarse, half, _ = base(pixel_values0=pair[0], pixel_values1=pair[1]).feature_maps
    assert coarse.shape[-2:] == (28, 40) and half.shape[-2:] == (112, 160)


def test_size_multiple_follows_the_config():
    """Coarse stride times the attention's query aggregation stride: 8 x 4 by default, 4 x 1 for the small config
    of transformers' own tests (which therefore runs 60x80 unpadded)."""
    assert EfficientLoFTRConfig().size_multiple == 32
    small = EfficientLoFTRConfig(stage_stride=[2, 1, 2], q_aggregation_stride=1, q_aggregation_kernel_size=1)
    assert small.size_multiple == 4


@pytest.mark.parametrize("tracked", [False, True], ids=["in_place", "with_gradients"])
@pytest.mark.parametrize("skip_softmax", [False, True], ids=["dual_softmax", "logits"])
def test_padding_cells_take_no_part_in_the_coarse_matching(tracked, skip_softmax):
    """With padding masked, the image cells' confidences are those of the image cells alone, and padding cells
    have none: as if the padding had been cropped away before matching."""
    grid0, inside0, grid1, inside1 = (4, 6), (3, 4), (5, 4), (5, 3)
    cpu = torch.device("cpu")
    valid0, valid1 = image_cells(grid0, inside0, cpu), image_cells(grid1, inside1, cpu)
    assert int(valid0.sum()) == 12 and int(valid1.sum()) == 15
    rng = np.random.default_rng(1)
    feat0 = torch.from_numpy(rng.normal(size=(1, 24, 16)).astype(np.float32) * 3)
    feat1 = torch.from_numpy(rng.normal(size=(1, 20, 16)).astype(np.float32) * 3)
    # Padding features that would otherwise be the best match of the other image's first cell.
    feat0[:, ~valid0] = feat1[:, :1] * 10
    feat1[:, ~valid1] = feat0[:, :1] * 10

    def maxima(f0, f1, valid=None):
        if tracked:
            f0 = f0.clone().requires_grad_(True)
        return confidence_maxima(f0, f1, 0.1, skip_softmax, valid)

    masked = maxima(feat0, feat1, (valid0, valid1))
    cropped = maxima(feat0[:, valid0], feat1[:, valid1])
    index1 = torch.nonzero(valid1)[:, 0]
    torch.testing.assert_close(masked.row_max[:, valid0], cropped.row_max, rtol=1e-5, atol=1e-7)
    assert torch.equal(masked.best[:, valid0], index1[cropped.best])
    torch.testing.assert_close(masked.col_max[:, valid1], cropped.col_max, rtol=1e-5, atol=1e-7)
    if not skip_softmax:
        assert torch.isfinite(masked.row_max).all() and torch.isfinite(masked.col_max).all()
        assert float(masked.row_max[:, ~valid0].detach().max()) == 0.0
        assert float(masked.col_max[:, ~valid1].detach().max()) == 0.0
    # No match involves a padding cell, whatever the threshold.
    keep = match_mask(masked, grid0, grid1, float("-inf"), 0, (inside0, inside1))
    assert bool(keep.any()) and not bool(keep[:, ~valid0].any())
    assert bool(valid1[masked.best[keep]].all())


def test_border_is_counted_from_the_image_edges():
    """As the original's mask_border_with_padding: border cells are removed from the image's own edges, and the
    padding beyond them never matches."""
    grid, inside = (8, 8), (6, 5)
    feat = torch.eye(64)[None] * 10  # every cell is its own best match, mutually
    maxima = confidence_maxima(feat, feat.clone(), 0.1, False)
    assert bool(match_mask(maxima, grid, grid, 0.0, 0).all())
    kept = match_mask(maxima, grid, grid, 0.0, 2, (inside, inside))[0].reshape(grid)
    expected = torch.zeros(grid, dtype=torch.bool)
    expected[2:4, 2:3] = True
    assert torch.equal(kept, expected)
    assert not match_mask(maxima, grid, grid, 0.0, 2, (inside, (3, 8))).any()  # image 1: 3 rows, all border
