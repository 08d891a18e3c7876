from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.model.efficientloftr import KeypointMatchingOutput
from core.processor import EfficientLoFTRImageProcessor, to_gray
from core.sizing import inference_size
from core.synthetic import textured_scene


def test_default_size_is_the_seed_480x640_and_grayscale():
    rgb0, rgb1 = textured_scene(300, 500, 1), textured_scene(700, 400, 2)
    inputs = EfficientLoFTRImageProcessor()([Image.fromarray(rgb0), rgb1], return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 2, 1, 480, 640)
    assert inputs["image_sizes"].tolist() == [[[300, 500], [700, 400]]]
    values = inputs["pixel_values"]
    assert 0.0 <= float(values.min()) and float(values.max()) <= 1.0


def test_long_side_keeps_aspect_with_multiples_of_32_and_splits_unequal_sizes():
    processor = EfficientLoFTRImageProcessor(long_side=640)
    inputs = processor([np.zeros((1000, 750, 3), np.uint8), np.zeros((480, 640, 3), np.uint8)])
    assert "pixel_values" not in inputs
    assert tuple(inputs["pixel_values0"].shape) == (1, 1, 640, 480)
    assert tuple(inputs["pixel_values1"].shape) == (1, 1, 480, 640)
    for h, w in [(1000, 750), (333, 1023), (17, 5000)]:
        th, tw = inference_size(h, w, None, 640, True)
        assert th % 32 == 0 and tw % 32 == 0 and max(th, tw) == 640


def test_list_of_pairs_and_paths(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(textured_scene(100, 120, 3)).save(path)
    inputs = EfficientLoFTRImageProcessor(size={"height": 96, "width": 128})([[path, path], [str(path), path]])
    assert inputs["pixel_values"].shape == (2, 2, 1, 96, 128)


def test_grayscale_uses_601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(to_gray(rgb)[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)


def test_bad_input_shapes_are_clear_errors():
    processor = EfficientLoFTRImageProcessor()
    with pytest.raises(ValueError, match="pair"):
        processor([np.zeros((10, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="image array"):
        processor([np.zeros((10, 10, 7)), np.zeros((10, 10, 3))])


def _output(kpts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], sizes) -> KeypointMatchingOutput:
    k = max(len(s) for _, _, s in kpts)
    keypoints = torch.zeros(len(kpts), 2, k, 2)
    matches = torch.full((len(kpts), 2, k), -1)
    scores = torch.zeros(len(kpts), 2, k)
    for b, (k0, k1, s) in enumerate(kpts):
        n = len(s)
        keypoints[b, 0, :n], keypoints[b, 1, :n] = torch.tensor(k0), torch.tensor(k1)
        matches[b, :, :n] = torch.arange(n)
        scores[b, :, :n] = torch.tensor(s)
    return KeypointMatchingOutput(keypoints, matches, scores, input_sizes=sizes)


def test_post_process_maps_to_original_pixels_and_keeps_row_pairing():
    """A known transform: image 0 is 1000x750 (model sees 640x480), image 1 is 480x640 unscaled... per axis."""
    rng = np.random.default_rng(0)
    in_sizes = ((480, 640), (384, 512))
    orig = [[(750, 1000), (960, 1280)], [(480, 640), (384, 512)]]
    pairs = []
    for n in (7, 3):
        k0 = rng.uniform(0, 400, (n, 2)).astype(np.float32)
        pairs.append((k0, k0 + np.float32(10.25), rng.uniform(0.05, 1, n).astype(np.float32)))
    out = _output(pairs, in_sizes)
    results = EfficientLoFTRImageProcessor().post_process_keypoint_matching(out, orig, threshold=0.0)
    assert [len(r["matching_scores"]) for r in results] == [7, 3]
    for (k0, k1, s), result, sizes in zip(pairs, results, orig):
        scale0 = np.array([sizes[0][1] / 640, sizes[0][0] / 480])
        scale1 = np.array([sizes[1][1] / 512, sizes[1][0] / 384])
        np.testing.assert_allclose(result["keypoints0"].numpy(), k0 * scale0, rtol=1e-6)
        np.testing.assert_allclose(result["keypoints1"].numpy(), k1 * scale1, rtol=1e-6)
        # Row k of both arrays is still one match: undoing the scales gives back the known +10.25 offset.
        np.testing.assert_allclose(
            result["keypoints1"].numpy() / scale1 - result["keypoints0"].numpy() / scale0, 10.25, atol=1e-3
        )
        np.testing.assert_allclose(result["matching_scores"].numpy(), s)


def test_post_process_threshold_drops_low_scores_and_padding():
    out = _output([(np.ones((3, 2)), np.ones((3, 2)), np.array([0.1, 0.5, 0.9]))], ((32, 32), (32, 32)))
    result = EfficientLoFTRImageProcessor().post_process_keypoint_matching(out, [[(32, 32), (32, 32)]], 0.4)[0]
    np.testing.assert_allclose(result["matching_scores"].numpy(), [0.5, 0.9])


def test_visualize_returns_side_by_side_pictures():
    rgb0, rgb1 = textured_scene(100, 120, 1), textured_scene(80, 90, 2)
    processed = [
        {
            "keypoints0": torch.tensor([[10.0, 10.0]]),
            "keypoints1": torch.tensor([[20.0, 30.0]]),
            "matching_scores": torch.tensor([0.9]),
        }
    ]
    pictures = EfficientLoFTRImageProcessor().visualize_keypoint_matching([rgb0, rgb1], processed)
    assert len(pictures) == 1 and pictures[0].size == (120 + 8 + 90, 100)
