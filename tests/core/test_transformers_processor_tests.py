"""transformers' own EfficientLoFTR image processor tests, run against core.processor.

Ported from tests/models/efficientloftr/test_image_processing_efficientloftr.py in huggingface/transformers
(Apache-2.0), with the generic ImageProcessingTestMixin checks it inherits that concern our processor: the same
tester settings (batches of 6 images, 30 to 400 pixels a side, resized to 480x640, grayscale) and the same
assertions. Adapted: pytest fixtures and parametrize instead of unittest and `parameterized`; transformers runs
every test for each of its processor classes (PIL and torchvision), ours has one; the fake matching output is
built from pixel_values alone (our processor also returns image and input sizes).

Already in tests/core/test_processor.py, so not repeated: from_dict with kwargs and the save/from_pretrained round
trip (test_settings_round_trip_through_dict_and_folder), the seven invalid input shapes
(test_bad_input_shapes_are_clear_errors), grayscale in three equal channels
(test_grayscale_is_repeated_in_three_channels_and_can_be_switched_off), construction without parameters
(test_default_size_is_the_seed_480x640_and_grayscale).
Not ported: test_call_numpy_4_channels (transformers skips it for this processor), test_backends_equivalence and
test_can_compile_torchvision_backend (they compare transformers' PIL and torchvision implementations), and the
mixin's AutoImageProcessor and `_valid_processor_keys` checks (transformers' registry and internals).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.model.outputs import KeypointMatchingOutput
from core.processor import EfficientLoFTRImageProcessor

BATCH_SIZE, NUM_CHANNELS, MIN_RESOLUTION, MAX_RESOLUTION = 6, 3, 30, 400
SIZE = {"height": 480, "width": 640}
IMAGE_PROCESSOR_DICT = {"do_resize": True, "size": SIZE, "do_grayscale": True}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def prepare_image_inputs(rng, equal_resolution=False, numpify=False, torchify=False, pairs=True, batch_size=None):
    """transformers' prepare_image_inputs: random uint8 images of random sizes, PIL by default, (H, W, C) numpy
    arrays or (C, H, W) tensors; grouped in pairs unless pairs=False."""
    batch_size = batch_size if batch_size is not None else BATCH_SIZE
    image_inputs = []
    for _ in range(batch_size):
        if equal_resolution:
            width = height = MAX_RESOLUTION
        else:
            width, height = rng.choice(np.arange(MIN_RESOLUTION, MAX_RESOLUTION), 2)
        image_inputs.append(rng.integers(0, 255, size=(NUM_CHANNELS, width, height), dtype=np.uint8))
    if torchify:
        image_inputs = [torch.from_numpy(image) for image in image_inputs]
    elif numpify:
        image_inputs = [image.transpose(1, 2, 0) for image in image_inputs]
    else:
        image_inputs = [Image.fromarray(np.moveaxis(image, 0, -1)) for image in image_inputs]
    if pairs:
        image_inputs = [image_inputs[i : i + 2] for i in range(0, len(image_inputs), 2)]
    return image_inputs


def expected_output_image_shape():
    return 2, NUM_CHANNELS, SIZE["height"], SIZE["width"]


def prepare_keypoint_matching_output(rng, pixel_values):
    """A fake output for the keypoint matching model with random matches between 50 keypoints per image."""
    max_number_keypoints = 50
    batch_size = len(pixel_values)
    keypoints = torch.zeros((batch_size, 2, max_number_keypoints, 2))
    matches = torch.full((batch_size, 2, max_number_keypoints), -1, dtype=torch.int)
    scores = torch.zeros((batch_size, 2, max_number_keypoints))
    for i in range(batch_size):
        random_number_keypoints0 = int(rng.integers(10, max_number_keypoints))
        random_number_keypoints1 = int(rng.integers(10, max_number_keypoints))
        random_number_matches = int(rng.integers(5, min(random_number_keypoints0, random_number_keypoints1)))
        keypoints[i, 0, :random_number_keypoints0] = torch.rand((random_number_keypoints0, 2))
        keypoints[i, 1, :random_number_keypoints1] = torch.rand((random_number_keypoints1, 2))
        random_matches_indices0 = torch.randperm(random_number_keypoints1, dtype=torch.int)[:random_number_matches]
        random_matches_indices1 = torch.randperm(random_number_keypoints0, dtype=torch.int)[:random_number_matches]
        matches[i, 0, random_matches_indices1] = random_matches_indices0
        matches[i, 1, random_matches_indices0] = random_matches_indices1
        scores[i, 0, random_matches_indices1] = torch.rand((random_number_matches,))
        scores[i, 1, random_matches_indices0] = torch.rand((random_number_matches,))
    return KeypointMatchingOutput(keypoints=keypoints, matches=matches, matching_scores=scores)


def test_image_processor_to_json_string():
    obj = json.loads(EfficientLoFTRImageProcessor(**IMAGE_PROCESSOR_DICT).to_json_string())
    for key, value in IMAGE_PROCESSOR_DICT.items():
        assert obj[key] == value


def test_image_processor_to_json_file(tmp_path):
    image_processor_first = EfficientLoFTRImageProcessor(**IMAGE_PROCESSOR_DICT)
    image_processor_first.to_json_file(tmp_path / "image_processor.json")
    image_processor_second = EfficientLoFTRImageProcessor.from_json_file(tmp_path / "image_processor.json")
    assert image_processor_second.to_dict() == image_processor_first.to_dict()


def test_image_processing():
    image_processing = EfficientLoFTRImageProcessor(**IMAGE_PROCESSOR_DICT)
    for name in ("do_resize", "size", "do_rescale", "rescale_factor", "do_grayscale"):
        assert hasattr(image_processing, name)


def test_number_and_format_of_images_in_input(rng):
    image_processor = EfficientLoFTRImageProcessor.from_dict(IMAGE_PROCESSOR_DICT)

    # Cases where the number of images and the format of lists in the input is correct
    for pairs, batch_size, expected in [(False, 2, 1), (True, 2, 1), (True, 4, 2), (True, 6, 3)]:
        image_input = prepare_image_inputs(rng, pairs=pairs, batch_size=batch_size)
        image_processed = image_processor.preprocess(image_input, return_tensors="pt")
        assert (expected, 2, 3, 480, 640) == tuple(image_processed["pixel_values"].shape)

    # Cases where the number of images or the format of lists in the input is incorrect: a list of 4 images, a
    # list of 3 images, a list of 2 pairs and 1 image
    for pairs, batch_size in [(False, 4), (False, 3), (True, 3)]:
        image_input = prepare_image_inputs(rng, pairs=pairs, batch_size=batch_size)
        with pytest.raises(ValueError):
            image_processor.preprocess(image_input, return_tensors="pt")


def _random_array(size):
    return np.random.default_rng(1).integers(0, 255, size=size)


def _random_tensor(size):
    return torch.rand(size, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    "image_input",
    [
        [_random_array((3, 100, 200)), _random_array((3, 100, 200))],
        [[_random_array((3, 100, 200)), _random_array((3, 100, 200))]],
        [_random_tensor((3, 100, 200)), _random_tensor((3, 100, 200))],
    ],
    ids=["pair_of_arrays", "list_of_one_pair", "pair_of_tensors"],
)
def test_valid_image_shape_in_input(image_input):
    image_processor = EfficientLoFTRImageProcessor.from_dict(IMAGE_PROCESSOR_DICT)
    image_processed = image_processor.preprocess(image_input, return_tensors="pt")
    assert (1, 2, 3, 480, 640) == tuple(image_processed["pixel_values"].shape)


def test_input_images_properly_paired(rng):
    image_processor = EfficientLoFTRImageProcessor.from_dict(IMAGE_PROCESSOR_DICT)
    pre_processed_images = image_processor(prepare_image_inputs(rng), return_tensors="pt")
    assert len(pre_processed_images["pixel_values"].shape) == 5
    assert pre_processed_images["pixel_values"].shape[1] == 2


def test_input_not_paired_images_raises_error(rng):
    image_processor = EfficientLoFTRImageProcessor.from_dict(IMAGE_PROCESSOR_DICT)
    image_inputs = prepare_image_inputs(rng, pairs=False)
    with pytest.raises(ValueError):
        image_processor(image_inputs[0])


@pytest.mark.parametrize("kind", ["numpy", "pil", "pytorch"])
def test_call(rng, kind):
    """test_call_numpy, test_call_pil and test_call_pytorch: one pair, a list of pairs, and unpaired images."""
    image_processing = EfficientLoFTRImageProcessor(**IMAGE_PROCESSOR_DICT)
    image_kind = {"numpify": kind == "numpy", "torchify": kind == "pytorch"}
    image_pairs = prepare_image_inputs(rng, equal_resolution=False, **image_kind)
    for image_pair in image_pairs:
        assert len(image_pair) == 2

    expected_batch_size = int(BATCH_SIZE / 2)

    # Test with 2 images
    encoded_images = image_processing(image_pairs[0], return_tensors="pt").pixel_values
    assert tuple(encoded_images.shape) == (1, *expected_output_image_shape())

    # Test with list of pairs
    encoded_images = image_processing(image_pairs, return_tensors="pt").pixel_values
    assert tuple(encoded_images.shape) == (expected_batch_size, *expected_output_image_shape())

    # Test without paired images
    image_pairs = prepare_image_inputs(rng, equal_resolution=False, pairs=False, **image_kind)
    with pytest.raises(ValueError):
        image_processing(image_pairs, return_tensors="pt")


def test_image_processor_with_list_of_two_images(rng):
    image_processing = EfficientLoFTRImageProcessor(**IMAGE_PROCESSOR_DICT)
    image_pairs = prepare_image_inputs(rng, equal_resolution=False, numpify=True, batch_size=2, pairs=False)
    assert len(image_pairs) == 2
    assert isinstance(image_pairs[0], np.ndarray)
    assert isinstance(image_pairs[1], np.ndarray)

    expected_batch_size = 1
    encoded_images = image_processing(image_pairs, return_tensors="pt").pixel_values
    assert tuple(encoded_images.shape) == (expected_batch_size, *expected_output_image_shape())


def test_post_processing_keypoint_matching(rng):
    def check_post_processed_output(post_processed_outputs, image_pair_size):
        assert len(post_processed_outputs) == len(image_pair_size)
        for post_processed_output, (image_size0, image_size1) in zip(post_processed_outputs, image_pair_size):
            assert "keypoints0" in post_processed_output
            assert "keypoints1" in post_processed_output
            assert "matching_scores" in post_processed_output
            keypoints0 = post_processed_output["keypoints0"]
            keypoints1 = post_processed_output["keypoints1"]
            all_below_image_size0 = torch.all(keypoints0[:, 0] <= image_size0[1]) and torch.all(
                keypoints0[:, 1] <= image_size0[0]
            )
            all_below_image_size1 = torch.all(keypoints1[:, 0] <= image_size1[1]) and torch.all(
                keypoints1[:, 1] <= image_size1[0]
            )
            all_above_zero0 = torch.all(keypoints0[:, 0] >= 0) and torch.all(keypoints0[:, 1] >= 0)
            all_above_zero1 = torch.all(keypoints1[:, 0] >= 0) and torch.all(keypoints1[:, 1] >= 0)
            assert all_below_image_size0
            assert all_below_image_size1
            assert all_above_zero0
            assert all_above_zero1
            all_scores_different_from_minus_one = torch.all(post_processed_output["matching_scores"] != -1)
            assert all_scores_different_from_minus_one

    image_processor = EfficientLoFTRImageProcessor.from_dict(IMAGE_PROCESSOR_DICT)
    image_inputs = prepare_image_inputs(rng)
    pre_processed_images = image_processor.preprocess(image_inputs, return_tensors="pt")
    torch.manual_seed(0)
    outputs = prepare_keypoint_matching_output(rng, pre_processed_images["pixel_values"])

    tuple_image_sizes = [
        ((image_pair[0].size[0], image_pair[0].size[1]), (image_pair[1].size[0], image_pair[1].size[1]))
        for image_pair in image_inputs
    ]
    tuple_post_processed_outputs = image_processor.post_process_keypoint_matching(outputs, tuple_image_sizes)
    check_post_processed_output(tuple_post_processed_outputs, tuple_image_sizes)

    tensor_image_sizes = torch.tensor([(image_pair[0].size, image_pair[1].size) for image_pair in image_inputs]).flip(2)
    tensor_post_processed_outputs = image_processor.post_process_keypoint_matching(outputs, tensor_image_sizes)
    check_post_processed_output(tensor_post_processed_outputs, tensor_image_sizes)
