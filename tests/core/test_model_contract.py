"""The model classes against transformers' contract: inputs, outputs, options, loading; and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.synthetic import textured_scene, warp
from core.errors import WeightsError
from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching, EfficientLoFTRModel
from core.processor import EfficientLoFTRImageProcessor


@pytest.fixture(scope="module")
def model(random_weights):
    model = EfficientLoFTRForKeypointMatching.from_pretrained(random_weights)
    model.coarse_threshold = 0.0
    return model


@pytest.fixture(scope="module")
def pair():
    scene = textured_scene(160, 224, 21)
    return scene, warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))


@pytest.fixture(scope="module")
def inputs(pair):
    return EfficientLoFTRImageProcessor(size={"height": 160, "width": 224})(list(pair), return_tensors="pt")


@pytest.fixture(scope="module")
def outputs(model, inputs):
    with torch.inference_mode():
        return model(**inputs)


def test_outputs_read_like_transformers(outputs):
    assert outputs.keys() == ["matches", "matching_scores", "keypoints"]
    assert outputs["keypoints"] is outputs.keypoints and outputs[0] is outputs.matches
    matches, scores, keypoints = outputs.to_tuple()
    batch, two, count = matches.shape
    assert (batch, two) == (1, 2) and count > 10
    assert scores.shape == (1, 2, count) and keypoints.shape == (1, 2, count, 2)
    assert dict(outputs).keys() == {"matches", "matching_scores", "keypoints"}
    with pytest.raises(KeyError, match="hidden_states"):
        _ = outputs["hidden_states"]
    # Normalised by each image's model-input width and height, as transformers has them.
    assert 0.0 <= float(keypoints.min()) and float(keypoints.max()) <= 1.0


def test_post_processed_keypoints_are_original_pixels_of_the_matched_cells(outputs):
    """Originals twice the model-input size: halved, each image-0 keypoint sits in its coarse cell's fine window
    (offsets of at most 3.5 px from the cell corner), exactly where the model put it."""
    result = EfficientLoFTRImageProcessor().post_process_keypoint_matching(
        outputs, target_sizes=[[(320, 448), (320, 448)]]
    )[0]
    valid = outputs.matches[0, 0] >= 0
    corners = outputs.coarse_keypoints[0, 0][valid].numpy()
    offsets = result["keypoints0"].numpy() / 2 - corners
    assert len(offsets) > 10 and np.abs(offsets).max() <= 3.5 + 1e-4
    assert np.all(np.isfinite(result["keypoints1"].numpy()))
    # Float, sub-pixel: the second fine stage moves image-1 keypoints off the half-pixel grid.
    kpts1 = result["keypoints1"].numpy() / 2
    assert np.any(np.abs(kpts1 - np.round(kpts1 * 2) / 2) > 1e-3)


def test_return_dict_false_gives_the_tuple(model, inputs, outputs):
    with torch.inference_mode():
        as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 3
    assert torch.equal(as_tuple[2], outputs.keypoints)


def test_labels_and_unknown_arguments_are_refused(model, inputs):
    with pytest.raises(ValueError, match="labels"):
        model(**inputs, labels=torch.zeros(1))
    with pytest.raises(TypeError, match="pixel_mask"):
        model(**inputs, pixel_mask=torch.ones(1))
    with pytest.raises(ValueError, match=r"\(batch, 2"):
        model(pixel_values=inputs.pixel_values[:, 0])
    with pytest.raises(TypeError, match="return_tensors='pt'"):
        model(pixel_values=inputs.pixel_values.numpy())


def test_hidden_states_and_attentions_on_request(model, inputs, outputs):
    config = model.config
    with torch.inference_mode():
        full = model(**inputs, output_hidden_states=True, output_attentions=True)
    assert full.keys() == ["matches", "matching_scores", "keypoints", "hidden_states", "attentions"]
    # Backbone levels 1/2, 1/4, 1/8, then each transformer layer; (batch, 2, channels, height, width).
    assert len(full.hidden_states) == 3 + config.num_attention_layers
    assert full.hidden_states[0].shape == (1, 2, config.out_features[1], 80, 112)
    assert full.hidden_states[-1].shape == (1, 2, config.hidden_size, 20, 28)
    # Self- then cross-attention of each layer over the 4x4-aggregated cells: (batch, 2, heads, 5*7, 5*7).
    assert len(full.attentions) == 2 * config.num_attention_layers
    weights = full.attentions[1]
    assert weights.shape == (1, 2, config.num_attention_heads, 35, 35)
    np.testing.assert_allclose(weights.sum(-1).numpy(), 1.0, atol=1e-5)
    # Asking for them does not change the matches.
    assert torch.equal(full.matches, outputs.matches)
    np.testing.assert_allclose(full.keypoints.numpy(), outputs.keypoints.numpy(), atol=1e-5)


def test_unequal_sizes_are_padded_by_the_processor_and_cropped_by_the_model(model, pair):
    processor = EfficientLoFTRImageProcessor(do_resize=False)  # sides already multiples of 32
    small = pair[1][:128, :160]
    inputs = processor([pair[0], small], return_tensors="pt")
    assert inputs.pixel_values.shape == (1, 2, 3, 160, 224)
    with torch.inference_mode():
        padded = model(**inputs)
        direct = model(
            pixel_values0=inputs.pixel_values[:, 0, :1],
            pixel_values1=inputs.pixel_values[:, 1, :1, :128, :160],
        )
    assert padded.input_sizes == ((160, 224), (128, 160))
    assert torch.equal(padded.matches, direct.matches)
    np.testing.assert_allclose(padded.keypoints.numpy(), direct.keypoints.numpy(), atol=1e-6)


def test_batched_pairs_give_the_same_matches_as_one_by_one(model, pair):
    other = (textured_scene(160, 224, 5), warp(textured_scene(160, 224, 5), np.diag([0.95, 0.95, 1.0])))
    processor = EfficientLoFTRImageProcessor(size={"height": 160, "width": 224})
    with torch.inference_mode():
        batched = model(**processor([list(pair), list(other)], return_tensors="pt"))
        singles = [model(**processor(list(p), return_tensors="pt")) for p in (pair, other)]
    assert batched.keypoints.shape[0] == 2
    for b, single in enumerate(singles):
        valid = batched.matches[b, 0] >= 0
        count = int(valid.sum())
        assert count == single.matches.shape[2]
        np.testing.assert_allclose(batched.keypoints[b, :, :count].numpy(), single.keypoints[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(
            batched.matching_scores[b, :, :count].numpy(), single.matching_scores[0].numpy(), atol=1e-5
        )


def test_base_model_returns_its_features(random_weights, model, inputs, outputs):
    base = EfficientLoFTRModel.from_pretrained(random_weights)
    assert isinstance(base, EfficientLoFTRModel) and base.config.hidden_size == 256
    with torch.inference_mode():
        features = base(**inputs)
    coarse, half, quarter = features.feature_maps
    assert coarse.shape == (1, 2, 256, 20, 28)
    assert half.shape == (1, 2, 64, 80, 112) and quarter.shape == (1, 2, 128, 40, 56)
    # The same coarse features the matcher compared.
    np.testing.assert_allclose(
        coarse[0, 0].flatten(1).T.numpy(), outputs.coarse.features0[0].numpy(), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ValueError, match="labels"):
        base(**inputs, labels=torch.zeros(1))


def test_from_pretrained_options(random_weights, inputs, outputs):
    eager = EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, attn_implementation="eager")
    eager.coarse_threshold = 0.0
    assert eager.device == torch.device("cpu") and eager.dtype == torch.float32
    with torch.inference_mode():
        again = eager(**inputs)
    assert torch.equal(again.matches, outputs.matches)
    np.testing.assert_allclose(again.keypoints.numpy(), outputs.keypoints.numpy(), atol=1e-4)

    bf16 = EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, dtype=torch.bfloat16)
    assert bf16.dtype == torch.bfloat16
    assert EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, torch_dtype="bfloat16").dtype == (
        torch.bfloat16
    )
    assert EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, dtype="auto").dtype == torch.float32
    with torch.inference_mode():
        low = bf16(**inputs)  # float32 inputs are cast to the model's dtype
    assert low.keypoints.shape[-1] == 2 and torch.isfinite(low.keypoints).all()
    with pytest.raises(ValueError, match="attn_implementation"):
        EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, attn_implementation="flash_attention_2")
    with pytest.raises(ValueError, match="dtype"):
        EfficientLoFTRForKeypointMatching.from_pretrained(random_weights, dtype="int8")


def test_save_pretrained_round_trip(model, inputs, outputs, tmp_path):
    fresh = EfficientLoFTRForKeypointMatching.from_pretrained(model.save_pretrained(tmp_path / "copy"))
    fresh.coarse_threshold = 0.0
    with torch.inference_mode():
        assert torch.equal(fresh(**inputs).keypoints, outputs.keypoints)
    assert EfficientLoFTRConfig.from_dict(model.config.to_dict()) == model.config
    assert EfficientLoFTRConfig.from_pretrained(tmp_path / "copy") == model.config
    assert EfficientLoFTRConfig.from_pretrained(tmp_path / "copy" / "config.json") == model.config
    with pytest.raises(WeightsError, match="local cache"):
        EfficientLoFTRConfig.from_pretrained("zju-community/efficientloftr")  # offline, empty cache
    with pytest.raises(ValueError, match="fuse"):
        EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig()).fuse().save_pretrained(tmp_path / "fused")


def test_gradients_flow_and_match_the_inference_results(random_weights, inputs, outputs):
    model = EfficientLoFTRForKeypointMatching.from_pretrained(random_weights)
    model.coarse_threshold = 0.0
    tracked = model(**inputs)  # gradients enabled: no in-place coarse matching
    assert tracked.keypoints.requires_grad
    assert torch.equal(tracked.matches, outputs.matches)
    np.testing.assert_allclose(tracked.keypoints.detach().numpy(), outputs.keypoints.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        tracked.matching_scores.detach().numpy(), outputs.matching_scores.numpy(), rtol=1e-4, atol=1e-6
    )
    (tracked.matching_scores.sum() + tracked.keypoints.sum()).backward()
    for part in (model.efficientloftr.backbone, model.efficientloftr.local_feature_transformer, model.refinement_layer):
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads, f"no gradient reached {type(part).__name__}"
        total = sum(float(g.abs().sum()) for g in grads)
        assert np.isfinite(total) and total > 0
