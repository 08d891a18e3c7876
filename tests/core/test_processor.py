from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.analysis.sizing import inference_size
from core.analysis.synthetic import textured_scene
from core.errors import WeightsError
from core.model.efficientloftr import KeypointMatchingOutput
from core.processor import EfficientLoFTRImageProcessor, to_gray


def test_default_size_is_the_seed_480x640_and_grayscale():
    rgb0, rgb1 = textured_scene(300, 500, 1), textured_scene(700, 400, 2)
    inputs = EfficientLoFTRImageProcessor()([Image.fromarray(rgb0), rgb1], return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 2, 3, 480, 640)
    assert inputs["image_sizes"].tolist() == [[[300, 500], [700, 400]]]
    values = inputs["pixel_values"]
    assert 0.0 <= float(values.min()) and float(values.max()) <= 1.0


def test_long_side_keeps_aspect_with_multiples_of_32_and_pads_unequal_sizes():
    processor = EfficientLoFTRImageProcessor(long_side=640)
    tall, wide = np.full((1000, 750, 3), 200, np.uint8), np.full((480, 640, 3), 100, np.uint8)
    inputs = processor([tall, wide], return_tensors="pt")
    assert tuple(inputs.pixel_values.shape) == (1, 2, 3, 640, 640)
    assert inputs.input_sizes.tolist() == [[[640, 480], [480, 640]]]
    # Each image sits top-left; the rest is zero padding that the model crops away using input_sizes.
    np.testing.assert_allclose(inputs.pixel_values[0, 0, :, :, :480].numpy(), 200 / 255, atol=1e-6)
    assert float(inputs.pixel_values[0, 0, :, :, 480:].abs().max()) == 0.0
    assert float(inputs.pixel_values[0, 1, :, 480:].abs().max()) == 0.0
    for h, w in [(1000, 750), (333, 1023), (17, 5000)]:
        th, tw = inference_size(h, w, None, 640, True)
        assert th % 32 == 0 and tw % 32 == 0 and max(th, tw) == 640


def test_list_of_pairs_and_paths(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(textured_scene(100, 120, 3)).save(path)
    inputs = EfficientLoFTRImageProcessor(size={"height": 96, "width": 128})(
        [[path, path], [str(path), path]], return_tensors="pt"
    )
    assert inputs["pixel_values"].shape == (2, 2, 3, 96, 128)


def test_grayscale_uses_601_luma():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(to_gray(rgb)[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)


def test_bad_input_shapes_are_clear_errors():
    processor = EfficientLoFTRImageProcessor()
    with pytest.raises(ValueError, match="pair"):
        processor([np.zeros((10, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="image array"):
        processor([np.zeros((10, 10, 7)), np.zeros((10, 10, 3))])
    odd = [
        np.zeros((3, 20, 30), np.uint8),  # one image, not a pair
        [np.zeros((3, 20, 30), np.uint8)],
        np.zeros((1, 3, 20, 30), np.uint8),
        [[np.zeros((3, 20, 30), np.uint8)]],
        [[np.zeros((3, 20, 30), np.uint8)], [np.zeros((3, 20, 30), np.uint8)]],
        [np.zeros((1, 3, 20, 30), np.uint8), np.zeros((1, 3, 20, 30), np.uint8)],  # batched arrays
        [np.zeros((20, 30, 3), np.uint8)] * 3,
        [[np.zeros((20, 30, 3), np.uint8)] * 2, np.zeros((20, 30, 3), np.uint8)],
    ]
    for images in odd:
        with pytest.raises(ValueError):
            processor(images, return_tensors="pt")


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
    keypoints = keypoints / torch.tensor([[[[sizes[0][1], sizes[0][0]]], [[sizes[1][1], sizes[1][0]]]]])
    return KeypointMatchingOutput(matches=matches, matching_scores=scores, keypoints=keypoints)


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
    # No gap: image 1 starts at image 0's width, so its points are offset by exactly that width.
    assert len(pictures) == 1 and pictures[0].size == (120 + 90, 100)
    np.testing.assert_array_equal(np.asarray(pictures[0])[50:60, 125:130], rgb1[50:60, 5:10])


# The transformers contract: batch features, settings round trips, input kinds, post-processing names and sizes.


def _pair(height=60, width=80):
    return [textured_scene(height, width, 1), textured_scene(height, width, 2)]


def test_batch_feature_has_attribute_access_and_moves_like_transformers():
    inputs = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})(_pair(), return_tensors="pt")
    assert inputs.pixel_values is inputs["pixel_values"]
    with pytest.raises(AttributeError, match="labels"):
        _ = inputs.labels
    half = inputs.to(torch.float16)
    assert half.pixel_values.dtype == torch.float16
    assert half.image_sizes.dtype == torch.int64  # a dtype casts only floating-point entries
    moved = inputs.to("cpu")
    assert moved.pixel_values.device.type == "cpu" and isinstance(moved, type(inputs))


def test_return_tensors_pt_np_and_none():
    processor = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})
    pt, np_, plain = (processor(_pair(), return_tensors=kind) for kind in ("pt", "np", None))
    assert isinstance(pt.pixel_values, torch.Tensor) and isinstance(np_.pixel_values, np.ndarray)
    assert isinstance(plain.pixel_values, list) and plain.pixel_values[0].shape == (2, 3, 64, 96)
    np.testing.assert_array_equal(pt.pixel_values.numpy(), np_.pixel_values)
    np.testing.assert_array_equal(np_.pixel_values[0], plain.pixel_values[0])
    assert plain.image_sizes == [[[60, 80], [60, 80]]]
    with pytest.raises(ValueError, match="return_tensors"):
        processor(_pair(), return_tensors="tf")


def test_numpy_pil_torch_and_channels_first_inputs_agree():
    rgb0, rgb1 = _pair()
    processor = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})
    reference = processor([rgb0, rgb1], return_tensors="pt").pixel_values
    variants = [
        [Image.fromarray(rgb0), Image.fromarray(rgb1)],
        [rgb0.transpose(2, 0, 1), rgb1.transpose(2, 0, 1)],  # (C, H, W)
        [torch.from_numpy(rgb0), torch.from_numpy(rgb1)],
        [torch.from_numpy(rgb0).permute(2, 0, 1), torch.from_numpy(rgb1).permute(2, 0, 1)],
        [torch.from_numpy(rgb0).float().permute(2, 0, 1) / 255, torch.from_numpy(rgb1).float().permute(2, 0, 1) / 255],
    ]
    for images in variants:
        np.testing.assert_allclose(processor(images, return_tensors="pt").pixel_values, reference, atol=1e-6)


def test_grayscale_is_repeated_in_three_channels_and_can_be_switched_off():
    rgb = [textured_scene(64, 96, 5), textured_scene(64, 96, 6)]
    gray = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})(rgb, return_tensors="pt").pixel_values
    assert torch.equal(gray[:, :, 0], gray[:, :, 1]) and torch.equal(gray[:, :, 1], gray[:, :, 2])
    np.testing.assert_allclose(gray[0, 0, 0].numpy(), to_gray(rgb[0]), atol=1e-6)
    colour = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96}, do_grayscale=False)(
        rgb, return_tensors="pt"
    ).pixel_values
    np.testing.assert_allclose(colour[0, 0].numpy(), rgb[0].transpose(2, 0, 1) / 255, atol=1e-6)


def test_rescale_settings():
    rgb = _pair(64, 96)
    raw = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96}, do_rescale=False)(rgb, return_tensors="np")
    np.testing.assert_allclose(raw.pixel_values[0, 0, 0], to_gray(rgb[0]) * 255, rtol=1e-5)
    halved = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96}, rescale_factor=0.5 / 255)
    np.testing.assert_allclose(
        halved(rgb, return_tensors="np").pixel_values, raw.pixel_values * 0.5 / 255, rtol=1e-5, atol=1e-7
    )
    # Per call, as transformers' preprocess keyword arguments.
    processor = EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})
    np.testing.assert_allclose(processor(rgb, do_rescale=False, return_tensors="np").pixel_values, raw.pixel_values)


def test_resample_uses_the_pil_filter_asked_for():
    rgb = [textured_scene(120, 160, 3), textured_scene(120, 160, 4)]
    size = {"height": 64, "width": 96}
    default = EfficientLoFTRImageProcessor(size=size)(rgb, return_tensors="np").pixel_values
    nearest = EfficientLoFTRImageProcessor(size=size, resample=Image.Resampling.NEAREST)(rgb, return_tensors="np")
    gray = to_gray(rgb[0])
    expected = np.asarray(Image.fromarray(gray).resize((96, 64), Image.Resampling.NEAREST))
    np.testing.assert_allclose(nearest.pixel_values[0, 0, 0], expected, atol=1e-6)
    assert np.abs(nearest.pixel_values - default).max() > 0.01


def test_settings_round_trip_through_dict_and_folder(tmp_path):
    processor = EfficientLoFTRImageProcessor(size={"height": 96, "width": 128}, resample=3, do_grayscale=False)
    again = EfficientLoFTRImageProcessor.from_dict(processor.to_dict())
    assert again.to_dict() == processor.to_dict()
    assert EfficientLoFTRImageProcessor.from_dict(processor.to_dict(), size={"height": 42, "width": 42}).size == {
        "height": 42,
        "width": 42,
    }
    processor.save_pretrained(tmp_path)
    loaded = EfficientLoFTRImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    assert (tmp_path / "preprocessor_config.json").is_file()
    # A transformers preprocessor_config.json reads as is.
    theirs = {
        "do_grayscale": True,
        "do_rescale": True,
        "do_resize": True,
        "image_processor_type": "EfficientLoFTRImageProcessor",
        "resample": 2,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": 480, "width": 640},
    }
    assert EfficientLoFTRImageProcessor.from_dict(theirs).resample == 2
    with pytest.raises(TypeError, match="unknown"):
        EfficientLoFTRImageProcessor.from_dict({"do_resise": True})
    with pytest.raises(ValueError, match="cannot"):
        EfficientLoFTRImageProcessor.from_pretrained(tmp_path / "missing")
    with pytest.raises(WeightsError, match="zju-community"):
        EfficientLoFTRImageProcessor.from_pretrained("zju-community/efficientloftr")  # offline, empty cache


def _transformers_style_output():
    """Two pairs; matches[b, 0, k] points into keypoints[b, 1] in shuffled order, as transformers allows."""
    keypoints = torch.tensor(
        [
            [[[0.1, 0.2], [0.5, 0.5], [0.9, 0.1]], [[0.3, 0.3], [0.15, 0.25], [0.0, 0.0]]],
            [[[0.25, 0.75], [0.0, 0.0], [0.0, 0.0]], [[0.5, 0.5], [0.0, 0.0], [0.0, 0.0]]],
        ]
    )
    matches = torch.tensor([[[1, -1, 0], [2, 0, -1]], [[0, -1, -1], [0, -1, -1]]])
    scores = torch.tensor([[[0.9, 0.0, 0.6], [0.6, 0.9, 0.0]], [[0.7, 0.0, 0.0], [0.7, 0.0, 0.0]]])
    return KeypointMatchingOutput(matches=matches, matching_scores=scores, keypoints=keypoints)


def test_post_process_names_sizes_and_pairing():
    processor = EfficientLoFTRImageProcessor()
    outputs = _transformers_style_output()
    sizes = [((100, 200), (50, 40)), ((10, 20), (30, 60))]
    by_name = processor.post_process_keypoint_matching(outputs, target_sizes=sizes)
    by_old_name = processor.post_process_keypoint_matching(outputs, image_sizes=sizes)
    by_tensor = processor.post_process_keypoint_matching(outputs, torch.tensor(sizes), 0.0)
    for results in (by_old_name, by_tensor):
        for a, b in zip(by_name, results):
            for key in a:
                assert torch.equal(a[key], b[key])
    first = by_name[0]
    # Match 0 of image 0 (0.1, 0.2) pairs with keypoint 1 of image 1 (0.15, 0.25): float pixels, not truncated.
    np.testing.assert_allclose(first["keypoints0"].numpy(), [[20.0, 20.0], [180.0, 10.0]], rtol=1e-6)
    np.testing.assert_allclose(first["keypoints1"].numpy(), [[6.0, 12.5], [12.0, 15.0]], rtol=1e-6)
    np.testing.assert_allclose(first["matching_scores"].numpy(), [0.9, 0.6])
    np.testing.assert_allclose(by_name[1]["keypoints1"].numpy(), [[30.0, 15.0]])
    assert len(processor.post_process_keypoint_matching(outputs, sizes, threshold=0.65)[0]["matching_scores"]) == 1


def test_post_process_refuses_missing_or_wrong_information():
    processor = EfficientLoFTRImageProcessor()
    outputs = _transformers_style_output()
    sizes = [((100, 200), (50, 40)), ((10, 20), (30, 60))]
    with pytest.raises(ValueError, match="target_sizes"):
        processor.post_process_keypoint_matching(outputs)
    with pytest.raises(ValueError, match="not both"):
        processor.post_process_keypoint_matching(outputs, sizes, image_sizes=sizes)
    with pytest.raises(ValueError, match="one"):
        processor.post_process_keypoint_matching(outputs, sizes[:1])
    with pytest.raises(ValueError, match="positive"):
        processor.post_process_keypoint_matching(outputs, [((0, 200), (50, 40)), ((10, 20), (30, 60))])

    class Bare:
        keypoints = None
        matches = outputs.matches
        matching_scores = outputs.matching_scores

    with pytest.raises(ValueError, match="keypoints"):
        processor.post_process_keypoint_matching(Bare(), sizes)


def test_post_process_reads_transformers_own_output_class():
    pytest.importorskip("transformers")
    from transformers.models.efficientloftr.modeling_efficientloftr import EfficientLoFTRKeypointMatchingOutput

    ours = _transformers_style_output()
    theirs = EfficientLoFTRKeypointMatchingOutput(
        keypoints=ours.keypoints, matches=ours.matches, matching_scores=ours.matching_scores
    )
    sizes = torch.tensor([((100, 200), (50, 40)), ((10, 20), (30, 60))])
    processor = EfficientLoFTRImageProcessor()
    for a, b in zip(
        processor.post_process_keypoint_matching(theirs, sizes), processor.post_process_keypoint_matching(ours, sizes)
    ):
        assert all(torch.equal(a[k], b[k]) and torch.isfinite(a[k]).all() for k in a)
