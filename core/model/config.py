"""EfficientLoFTR hyper-parameters, with the reference defaults and transformers' `config.json` key format."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class EfficientLoFTRConfig:
    # RepVGG backbone: blocks per stage, stride of each stage's first block, output channels per stage.
    stage_num_blocks: list[int] = field(default_factory=lambda: [1, 2, 4, 14])
    stage_stride: list[int] = field(default_factory=lambda: [2, 1, 2, 2])
    out_features: list[int] = field(default_factory=lambda: [64, 64, 128, 256])
    # Coarse transformer: d_model, heads, (self, cross) layer pairs, aggregation of queries (depthwise conv)
    # and of keys/values (max-pool), RoPE on self-attention only.
    hidden_size: int = 256
    num_attention_heads: int = 8
    num_attention_layers: int = 4
    q_aggregation_kernel_size: int = 4
    q_aggregation_stride: int = 4
    kv_aggregation_kernel_size: int = 4
    kv_aggregation_stride: int = 4
    rope_theta: float = 10000.0
    # RoPE positions are scaled by train_size / test_size (upstream `npe`); equal sizes keep them unscaled.
    rope_train_size: int = 832
    rope_test_size: int = 832
    # Coarse matching: dual-softmax temperature, confidence threshold, cells removed at each border.
    # The "opt" variant skips the softmax and thresholds the raw similarity logits.
    coarse_matching_skip_softmax: bool = False
    coarse_matching_threshold: float = 0.2
    coarse_matching_temperature: float = 0.1
    coarse_matching_border_removal: int = 2
    # Fine matching: window size in fine pixels, channels kept for the second stage, its softmax temperature.
    fine_kernel_size: int = 8
    fine_matching_slice_dim: int = 8
    fine_matching_regress_temperature: float = 10.0
    batch_norm_eps: float = 1e-5

    model_type: str = "efficientloftr"

    @property
    def fine_fusion_dims(self) -> list[int]:
        """Channels of the fine fusion pyramid, coarsest first (256, 128, 64)."""
        return list(reversed(self.out_features))[:-1]

    @property
    def coarse_stride(self) -> int:
        stride = 1
        for s in self.stage_stride:
            stride *= s
        return stride

    @property
    def size_multiple(self) -> int:
        """Image sides the network runs on are multiples of this (32 by default): the attention aggregates the
        coarse map by the query stride and upsamples back by the same factor, which needs sides it divides."""
        return self.coarse_stride * self.q_aggregation_stride

    @classmethod
    def opt(cls, **overrides: Any) -> EfficientLoFTRConfig:
        """The optimised variant: no dual softmax, matches thresholded on similarity logits."""
        overrides.setdefault("coarse_matching_skip_softmax", True)
        return cls(**overrides)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        rope = {"rope_theta": data.pop("rope_theta"), "rope_type": "default", "partial_rotary_factor": 4.0}
        data["rope_parameters"] = rope
        data["intermediate_size"] = self.hidden_size * 2
        data["fine_fusion_dims"] = self.fine_fusion_dims
        data["activation_function"] = "relu"
        data["mlp_activation_function"] = "leaky_relu"
        data["num_key_value_heads"] = self.num_attention_heads
        data["attention_bias"] = False
        data["attention_dropout"] = 0.0
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EfficientLoFTRConfig:
        """Read a transformers-style dict; keys that only describe derived or fixed values are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        rope = data.get("rope_parameters") or {}
        if "rope_theta" in rope:
            kwargs["rope_theta"] = float(rope["rope_theta"])
        if data.get("model_type", "efficientloftr") != "efficientloftr":
            raise ValueError(f"config.json describes a '{data.get('model_type')}' model, not EfficientLoFTR")
        return cls(**kwargs)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_json_file(self, path: str | Path) -> Path:
        """Write the config as JSON (what from_json_file reads back)."""
        path = Path(path)
        path.write_text(self.to_json_string())
        return path

    def save_pretrained(self, folder: str | Path) -> Path:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return self.to_json_file(Path(folder) / "config.json")

    @classmethod
    def from_pretrained(cls, source: str | Path) -> EfficientLoFTRConfig:
        """From a saved model folder, a config.json file or a Hugging Face Hub id."""
        path = Path(source).expanduser()
        if path.is_dir():
            path = path / "config.json"
        elif not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
            from core.model.hub import hub_file

            path = hub_file(str(source), "config.json")
        return cls.from_json_file(path)

    @classmethod
    def from_json_file(cls, path: str | Path) -> EfficientLoFTRConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read model config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"model config {path} is not a JSON object")
        return cls.from_dict(data)
