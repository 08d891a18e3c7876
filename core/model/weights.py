"""Loading weights: Hugging Face Hub ids, local folders, and single checkpoint files in either key layout.

Two layouts exist: transformers' (`efficientloftr.backbone.stages...`, the Hub safetensors) and the original
repository's (`backbone.layer0...`, `eloftr_outdoor.ckpt`, usually under `state_dict` with a `matcher.` prefix).
Our modules use the transformers names, so original checkpoints are renamed on load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from core.default_weights import CHECKPOINT_SUFFIXES, DEFAULT_HUB_ID, HOW_TO_GET_WEIGHTS
from core.errors import WeightsError
from core.model.config import EfficientLoFTRConfig
from core.model.hub import DownloadProgress, download_from_hub

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "DEFAULT_HUB_ID",
    "HOW_TO_GET_WEIGHTS",
    "load_pretrained",
    "read_checkpoint",
    "resolve_source",
]

M = TypeVar("M", bound=nn.Module)


def _rename_original_key(key: str) -> str:
    """Map one key of the original layout to the transformers layout."""
    key = key.removeprefix("matcher.")
    if key.startswith("backbone."):
        key = re.sub(r"^backbone\.layer0\.", "backbone.stages.0.blocks.0.", key)
        key = re.sub(r"^backbone\.layer(\d)\.(\d+)\.", r"backbone.stages.\1.blocks.\2.", key)
        key = key.replace(".rbr_dense.bn.", ".conv1.norm.").replace(".rbr_dense.conv.", ".conv1.conv.")
        key = key.replace(".rbr_1x1.bn.", ".conv2.norm.").replace(".rbr_1x1.conv.", ".conv2.conv.")
        key = key.replace(".rbr_identity.", ".identity.")
        return "efficientloftr." + key
    match = re.match(r"^loftr_coarse\.layers\.(\d+)\.(.*)$", key)
    if match:
        index, rest = int(match.group(1)), match.group(2)
        kind = "self_attention" if index % 2 == 0 else "cross_attention"
        renames = {
            "aggregate.": "aggregation.q_aggregation.",
            "norm1.": "aggregation.norm.",
            "q_proj.": "attention.q_proj.",
            "k_proj.": "attention.k_proj.",
            "v_proj.": "attention.v_proj.",
            "merge.": "attention.o_proj.",
            "mlp.0.": "mlp.fc1.",
            "mlp.2.": "mlp.fc2.",
            "norm2.": "mlp.layer_norm.",
        }
        for old, new in renames.items():
            if rest.startswith(old):
                rest = new + rest[len(old) :]
                break
        return f"efficientloftr.local_feature_transformer.layers.{index // 2}.{kind}.{rest}"
    if key.startswith("fine_preprocess."):
        rest = key.removeprefix("fine_preprocess.")
        rest = rest.replace("layer3_outconv.", "out_conv.")
        for level, block in (("2", "0"), ("1", "1")):
            rest = rest.replace(f"layer{level}_outconv2.0.", f"out_conv_layers.{block}.out_conv2.")
            rest = rest.replace(f"layer{level}_outconv2.1.", f"out_conv_layers.{block}.batch_norm.")
            rest = rest.replace(f"layer{level}_outconv2.3.", f"out_conv_layers.{block}.out_conv3.")
            rest = rest.replace(f"layer{level}_outconv.", f"out_conv_layers.{block}.out_conv1.")
        return "refinement_layer." + rest
    return key


def is_original_layout(state_dict: dict[str, torch.Tensor]) -> bool:
    return any(k.removeprefix("matcher.").startswith(("backbone.layer", "loftr_coarse.")) for k in state_dict)


def to_transformers_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if not is_original_layout(state_dict):
        return dict(state_dict)
    return {_rename_original_key(k): v for k, v in state_dict.items()}


def _unwrap_checkpoint(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path.name} holds no tensor state dict; it is not an EfficientLoFTR checkpoint")
    return obj


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of one checkpoint file. Pickle files are read with weights_only=True, so they cannot run code; a
    damaged or unsafe file raises WeightsError with our own one-line message (never PyTorch's advice to turn the
    safety off)."""
    import pickle

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's weights-only unpickler names the Python global it refused ("GLOBAL posix.system"); anything else
        # it cannot parse is a damaged file.
        refused = re.search(r"GLOBAL (\S+)", str(exc))
        if refused:
            raise WeightsError(
                f"cannot read weights file {path.name}: it holds Python objects besides tensors ({refused.group(1)}), "
                "which could run code, so it was refused unread; use a .safetensors file or a checkpoint of plain "
                "tensors"
            ) from None
        raise WeightsError(f"cannot read weights file {path.name}: the file is damaged or not a checkpoint") from None
    except Exception as exc:  # every reader error (zip, safetensors header, truncation) becomes one message
        raise WeightsError(
            f"cannot read weights file {path.name}: the file is damaged, truncated or not a checkpoint "
            f"({type(exc).__name__})"
        ) from exc
    return _unwrap_checkpoint(obj, path)


def load_weights_into(model: nn.Module, state_dict: dict[str, torch.Tensor], origin: str) -> None:
    """Strict load: every parameter must be present with the right shape, and nothing else may be there."""
    state_dict = to_transformers_layout(state_dict)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state_dict[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    )
    if missing or unexpected or wrong_shape:

        def few(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")

        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({few(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({few(unexpected)})")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} keys of the wrong shape ({few(wrong_shape)})")
        raise WeightsError(f"{origin} does not hold EfficientLoFTR weights: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def _read_config(path: Path) -> EfficientLoFTRConfig:
    try:
        return EfficientLoFTRConfig.from_json_file(path)
    except (ValueError, TypeError) as exc:
        raise WeightsError(f"the model config {path.name} in {path.parent} is not usable: {exc}") from exc


def resolve_source(
    source: str | Path | None, progress: DownloadProgress | None = None, local_files_only: bool = False
) -> tuple[Path, EfficientLoFTRConfig | None]:
    """The checkpoint file to read and the config found beside it (None: use the defaults)."""
    text = str(source) if source is not None else DEFAULT_HUB_ID
    path = Path(text).expanduser()
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise WeightsError(f"the folder {path} has no config.json; it is not a saved EfficientLoFTR model")
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return path / name, _read_config(config_path)
        raise WeightsError(f"the folder {path} has no model.safetensors")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or path.exists():
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        beside = path.parent / "config.json"
        return path, _read_config(beside) if beside.is_file() else None
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        folder = download_from_hub(text, progress, local_files_only)
        return folder / "model.safetensors", _read_config(folder / "config.json")
    raise WeightsError(f"'{text}' is neither a file, a folder, nor a Hugging Face Hub id (owner/name)")


def load_pretrained(
    cls: type[M],
    source: str | Path | None = None,
    config: EfficientLoFTRConfig | None = None,
    progress: DownloadProgress | None = None,
    local_files_only: bool = False,
) -> M:
    """Build `cls` and load weights strictly from a Hub id, a folder or a checkpoint file.

    `config`, when given, overrides the one found with the weights (e.g. to pick the "opt" variant or a threshold).
    """
    path, found = resolve_source(source, progress, local_files_only)
    try:
        model = cls(config or found or EfficientLoFTRConfig())  # type: ignore[call-arg]
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"the model config beside {path.name} is not usable: {exc}") from exc
    load_weights_into(model, read_checkpoint(path), path.name)
    model.eval()
    return model


def save_pretrained(model: nn.Module, config: EfficientLoFTRConfig, folder: str | Path) -> Path:
    """Write config.json and model.safetensors (transformers layout) into `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    config.save_pretrained(folder)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return folder
