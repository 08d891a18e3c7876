"""Broken and unsafe weight files, without the reference package: every one is our own one-line message."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from core.errors import WeightsError
from core.model import EfficientLoFTRForKeypointMatching
from tests.core.test_hub_download import tiny_model_files


class _RunsCode:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {_RunsCode.marker}",))


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    _RunsCode.marker = str(marker)
    path = tmp_path / "evil.ckpt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": {"x": _RunsCode()}}, handle, protocol=2)
    with pytest.raises(WeightsError) as info:
        EfficientLoFTRForKeypointMatching.from_pretrained(str(path))
    message = str(info.value)
    assert message.startswith("cannot read weights file evil.ckpt: it holds Python objects besides tensors")
    assert "weights_only" not in message and "\n" not in message, "never PyTorch's advice to turn the safety off"
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_checkpoints_are_one_line(tmp_path, damage):
    path = tmp_path / "model.pth"
    torch.save({"a.weight": torch.zeros(64, 64)}, path)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "garbage": os.urandom(300)}[damage])
    with pytest.raises(WeightsError) as info:
        EfficientLoFTRForKeypointMatching.from_pretrained(str(path))
    message = str(info.value)
    assert message.startswith("cannot read weights file model.pth: the file is damaged")
    assert "weights_only" not in message and "\n" not in message


def test_damaged_config_beside_the_weights_is_a_weights_error(tmp_path):
    for name, data in tiny_model_files().items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "config.json").write_text('{"hidden_size": ')
    with pytest.raises(WeightsError, match="config.json"):
        EfficientLoFTRForKeypointMatching.from_pretrained(str(tmp_path))
