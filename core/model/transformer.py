"""Aggregated self/cross attention with RoPE: the coarse-level feature transformer."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import EfficientLoFTRConfig
from core.model.outputs import PairTensor, pair_of


@lru_cache(maxsize=16)
def _rope_tables(
    height: int, width: int, dim: int, theta: float, pos_scale: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for 2-D RoPE over an (height, width) grid, shape (height, width, dim).

    Like the original, positions start at 1, channel pairs alternate row / column frequencies, and the tables are
    rounded to float16 (the original stores them as half buffers), which changes results at the 1e-4 level.
    """
    with torch.inference_mode(False):  # cached tables must also serve forward passes that track gradients
        return _build_rope_tables(height, width, dim, theta, pos_scale, device)


def _build_rope_tables(
    height: int, width: int, dim: int, theta: float, pos_scale: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(1, height + 1, dtype=torch.float32).reshape(-1, 1, 1) * pos_scale
    cols = torch.arange(1, width + 1, dtype=torch.float32).reshape(1, -1, 1) * pos_scale
    quarter = dim // 4
    freq = torch.exp(torch.arange(0, quarter, 1).float() * (-math.log(theta) / quarter)).reshape(1, 1, -1)
    angles = torch.empty(height, width, dim // 2)
    angles[:, :, 0::2] = rows * freq
    angles[:, :, 1::2] = cols * freq
    sin = torch.sin(angles).half().float().repeat_interleave(2, dim=-1)
    cos = torch.cos(angles).half().float().repeat_interleave(2, dim=-1)
    return cos.to(device), sin.to(device)


def apply_rope(x: torch.Tensor, theta: float, pos_scale: float) -> torch.Tensor:
    """x: (N, H, W, C); rotates each adjacent channel pair by its position angle."""
    # Symbolic sizes under torch.export cannot key a cache: the exported graph computes the tables itself.
    tables = _rope_tables.__wrapped__ if torch.compiler.is_exporting() else _rope_tables
    cos, sin = tables(x.shape[1], x.shape[2], x.shape[3], theta, pos_scale, x.device)
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    # In float32 even under mixed precision, as the original's half tables promote its products to float32.
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class Aggregation(nn.Module):
    """Queries: depthwise strided conv; keys/values: max-pool. One LayerNorm shared by both."""

    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        d = config.hidden_size
        k, s = config.q_aggregation_kernel_size, config.q_aggregation_stride
        self.q_aggregation = nn.Conv2d(d, d, kernel_size=k, stride=s, padding=0, bias=False, groups=d)
        self.kv_aggregation = nn.MaxPool2d(config.kv_aggregation_kernel_size, config.kv_aggregation_stride)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        query = self.norm(self.q_aggregation(x).permute(0, 2, 3, 1))
        kv = self.norm(self.kv_aggregation(source).permute(0, 2, 3, 1))
        return query, kv


class MultiHeadAttention(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.heads = config.num_attention_heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.eager = False  # explicit softmax(QK^T)V instead of the fused kernel (attn_implementation="eager")

    def forward(
        self,
        query: torch.Tensor,
        kv: torch.Tensor,
        rope: tuple[float, float] | None,
        attentions: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """query: (N, h, w, C), kv: (N, h', w', C) -> (N, h*w, C).

        With an `attentions` list, the weights (N, heads, h*w, h'*w') are computed explicitly and appended to it.
        """
        q, k, v = self.q_proj(query), self.k_proj(kv), self.v_proj(kv)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        n, c = q.shape[0], q.shape[-1]

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(n, -1, self.heads, c // self.heads).transpose(1, 2)

        if attentions is None and not self.eager:
            out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        else:
            weights = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / (c // self.heads) ** 0.5, dim=-1)
            if attentions is not None:
                attentions.append(weights)
            out = weights @ heads(v)
        return self.o_proj(out.transpose(1, 2).reshape(n, -1, c))


class FeedForward(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        d = config.hidden_size
        self.fc1 = nn.Linear(2 * d, 2 * d, bias=False)
        self.fc2 = nn.Linear(2 * d, d, bias=False)
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer_norm(self.fc2(F.leaky_relu(self.fc1(x))))


class AggregatedAttention(nn.Module):
    """One encoder layer: attend from aggregated x to aggregated source, upsample, MLP on [x, message]."""

    def __init__(self, config: EfficientLoFTRConfig, use_rope: bool) -> None:
        super().__init__()
        self.aggregation = Aggregation(config)
        self.attention = MultiHeadAttention(config)
        self.mlp = FeedForward(config)
        self.upsample = config.q_aggregation_stride
        self.rope = (config.rope_theta, config.rope_train_size / config.rope_test_size) if use_rope else None

    def forward(
        self, x: torch.Tensor, source: torch.Tensor, attentions: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        n, c, h, w = x.shape
        query, kv = self.aggregation(x, source)
        qh, qw = query.shape[1:3]
        message = self.attention(query, kv, self.rope, attentions)
        message = message.transpose(1, 2).reshape(n, c, qh, qw)
        message = F.interpolate(message, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        update = self.mlp(torch.cat([x, message], dim=1).permute(0, 2, 3, 1))
        return x + update.permute(0, 3, 1, 2)


class TransformerLayer(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        self.self_attention = AggregatedAttention(config, use_rope=True)
        self.cross_attention = AggregatedAttention(config, use_rope=False)

    def forward(
        self,
        feat0: torch.Tensor,
        feat1: torch.Tensor,
        attentions: list[PairTensor] | None = None,
        step: Callable[[int], None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """With an `attentions` list, appends the self- then the cross-attention weights of both images.

        `step(done)`, when given, is called after the self-attention and after each cross-attention (done 1, 2, 3).
        """
        weights: list[torch.Tensor] | None = None if attentions is None else []
        # One batched call when both images share a size; an exported graph keeps the sizes independent.
        if not torch.compiler.is_exporting() and feat0.shape == feat1.shape:
            both = self.self_attention(*(torch.cat([feat0, feat1]),) * 2, attentions=weights)
            feat0, feat1 = both.chunk(2)
            if weights is not None:
                weights[:] = list(weights.pop().chunk(2))
        else:
            feat0 = self.self_attention(feat0, feat0, weights)
            feat1 = self.self_attention(feat1, feat1, weights)
        if step is not None:
            step(1)
        # As in the original, image 1 attends to the already-updated image 0 features (sequential update).
        feat0 = self.cross_attention(feat0, feat1, weights)
        if step is not None:
            step(2)
        feat1 = self.cross_attention(feat1, feat0, weights)
        if step is not None:
            step(3)
        if attentions is not None and weights is not None:
            attentions += [pair_of(weights[0], weights[1]), pair_of(weights[2], weights[3])]
        return feat0, feat1


class LocalFeatureTransformer(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_attention_layers))

    def forward(
        self,
        feat0: torch.Tensor,
        feat1: torch.Tensor,
        hidden_states: list[PairTensor] | None = None,
        attentions: list[PairTensor] | None = None,
        step: Callable[[int, int], None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """With lists given, appends each layer's output features and attention weights (see TransformerLayer).

        `step(done, total)`, when given, is called after each attention (three per layer): progress, cancel check.
        """
        total = 3 * len(self.layers)
        for index, layer in enumerate(self.layers):
            layer_step = None if step is None else (lambda done, base=3 * index: step(base + done, total))
            feat0, feat1 = layer(feat0, feat1, attentions, layer_step)
            if hidden_states is not None:
                hidden_states.append(pair_of(feat0, feat1))
        return feat0, feat1
