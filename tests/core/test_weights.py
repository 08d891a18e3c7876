"""Weight sources and layouts: original checkpoints, transformers folders, and every kind of wrong file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.synthetic import textured_scene, warp
from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching, WeightsError
from core.model.weights import save_pretrained, to_transformers_layout
from tests.reference import calibrated_reference, gray_tensor, reference_state_dict

pytest.importorskip("efficientloftr_inference")


@pytest.fixture(scope="module")
def original_state():
    return reference_state_dict(calibrated_reference(seed=1))


@pytest.fixture(scope="module")
def pair():
    scene = textured_scene(256, 320, 11)
    shifted = warp(scene, np.array([[1, 0, 5.0], [0, 1, -3.0], [0, 0, 1]]))
    return gray_tensor(scene), gray_tensor(shifted)


def _matches(model, pair):
    with torch.inference_mode():
        out = model(pixel_values0=pair[0], pixel_values1=pair[1])
    return out.keypoints.numpy(), out.matching_scores.numpy()


@pytest.fixture(scope="module")
def original_ckpt(original_state, tmp_path_factory) -> Path:
    """The original repository's checkpoint layout: Lightning `state_dict` with the `matcher.` prefix."""
    path = tmp_path_factory.mktemp("ckpt") / "eloftr_outdoor.ckpt"
    torch.save({"state_dict": {f"matcher.{k}": v for k, v in original_state.items()}, "epoch": 30}, path)
    return path


def test_original_checkpoint_and_transformers_folder_give_identical_outputs(
    original_ckpt, original_state, pair, tmp_path
):
    transformers = pytest.importorskip("transformers")
    from_ckpt = EfficientLoFTRForKeypointMatching.from_pretrained(str(original_ckpt))

    # transformers itself writes the folder: config.json + model.safetensors in its own key layout.
    theirs = transformers.EfficientLoFTRForKeypointMatching(transformers.EfficientLoFTRConfig()).eval()
    theirs.load_state_dict(to_transformers_layout(original_state), strict=True)
    theirs.save_pretrained(tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    from_folder = EfficientLoFTRForKeypointMatching.from_pretrained(str(tmp_path / "hf"))
    from_file = EfficientLoFTRForKeypointMatching.from_pretrained(str(tmp_path / "hf" / "model.safetensors"))

    kp_ckpt, sc_ckpt = _matches(from_ckpt, pair)
    assert kp_ckpt.shape[2] > 0
    for model in (from_folder, from_file):
        kp, sc = _matches(model, pair)
        np.testing.assert_array_equal(kp, kp_ckpt)
        np.testing.assert_array_equal(sc, sc_ckpt)


def test_config_round_trips_through_config_json(tmp_path):
    config = EfficientLoFTRConfig(coarse_matching_threshold=0.3, coarse_matching_skip_softmax=True)
    config.save_pretrained(tmp_path)
    assert EfficientLoFTRConfig.from_json_file(tmp_path / "config.json") == config
    transformers = pytest.importorskip("transformers")
    theirs = transformers.EfficientLoFTRConfig.from_pretrained(tmp_path)
    assert theirs.coarse_matching_threshold == 0.3 and theirs.coarse_matching_skip_softmax is True
    assert list(theirs.stage_num_blocks) == [1, 2, 4, 14]


def test_save_pretrained_round_trip(original_state, pair, tmp_path):
    model = EfficientLoFTRForKeypointMatching()
    from core.model.weights import load_weights_into

    load_weights_into(model, original_state, "test")
    save_pretrained(model, model.config, tmp_path)
    again = EfficientLoFTRForKeypointMatching.from_pretrained(str(tmp_path))
    for a, b in zip(_matches(model, pair), _matches(again, pair)):
        np.testing.assert_array_equal(a, b)


def test_truncated_safetensors_is_a_clear_error(original_state, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(to_transformers_layout(original_state), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match="cannot read weights file model.safetensors"):
        EfficientLoFTRForKeypointMatching.from_pretrained(str(path))


def test_other_architecture_names_missing_and_unexpected_keys(tmp_path):
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    path = tmp_path / "resnet.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(WeightsError) as info:
        EfficientLoFTRForKeypointMatching.from_pretrained(str(path))
    message = str(info.value)
    assert "missing keys" in message and "unexpected keys" in message and "0.weight" in message


def test_wrong_shapes_are_reported(original_state, tmp_path):
    state = to_transformers_layout(original_state)
    key = "refinement_layer.out_conv.weight"
    state[key] = torch.zeros(3, 3, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="wrong shape"):
        EfficientLoFTRForKeypointMatching.from_pretrained(str(path))


def test_folder_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(WeightsError, match="no config.json"):
        EfficientLoFTRForKeypointMatching.from_pretrained(str(tmp_path))


def test_unknown_hub_id_offline_says_how_to_get_weights():
    with pytest.raises(WeightsError) as info:
        EfficientLoFTRForKeypointMatching.from_pretrained("someone/not-cached-model")
    assert "hf download" in str(info.value) and "eloftr_outdoor.ckpt" in str(info.value)


def test_default_source_offline_with_empty_cache_is_a_clear_error():
    with pytest.raises(WeightsError, match="not in the local cache"):
        EfficientLoFTRForKeypointMatching.from_pretrained()


def test_missing_file_and_nonsense_source():
    with pytest.raises(WeightsError, match="not found"):
        EfficientLoFTRForKeypointMatching.from_pretrained("/nonexistent/eloftr.ckpt")
    with pytest.raises(WeightsError, match="neither a file"):
        EfficientLoFTRForKeypointMatching.from_pretrained("not a source at all")
