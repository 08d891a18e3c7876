"""RepVGG backbone: three parallel branches (3x3, 1x1, identity BN) that fuse into one 3x3 conv for inference."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import EfficientLoFTRConfig


class ConvNorm(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(out_ch, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    assert bn.running_var is not None and bn.running_mean is not None
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std
    return scale, bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int, eps: float) -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_ch, out_ch, 3, stride, eps)
        self.conv2 = ConvNorm(in_ch, out_ch, 1, stride, eps)
        self.identity = nn.BatchNorm2d(in_ch, eps=eps) if in_ch == out_ch and stride == 1 else None
        self.fused: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return F.relu(self.fused(x))
        out = self.conv1(x) + self.conv2(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return F.relu(out)

    @torch.no_grad()
    def fuse(self) -> None:
        """Re-parameterise the three branches into one biased 3x3 conv (exact in eval mode)."""
        if self.fused is not None:
            return
        conv3 = self.conv1.conv
        scale3, shift3 = _bn_scale_shift(self.conv1.norm)
        scale1, shift1 = _bn_scale_shift(self.conv2.norm)
        kernel = conv3.weight * scale3.reshape(-1, 1, 1, 1)
        kernel = kernel + F.pad(self.conv2.conv.weight * scale1.reshape(-1, 1, 1, 1), [1, 1, 1, 1])
        bias = shift3 + shift1
        if self.identity is not None:
            scale_id, shift_id = _bn_scale_shift(self.identity)
            eye = torch.zeros_like(kernel)
            channels = torch.arange(kernel.shape[0])
            eye[channels, channels, 1, 1] = scale_id
            kernel = kernel + eye
            bias = bias + shift_id
        fused = nn.Conv2d(conv3.in_channels, conv3.out_channels, 3, stride=conv3.stride[0], padding=1, bias=True)
        fused.weight.copy_(kernel)
        assert fused.bias is not None
        fused.bias.copy_(bias)
        self.fused = fused.to(kernel.device)
        del self.conv1, self.conv2, self.identity


class RepVGGStage(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, num_blocks: int, stride: int, eps: float) -> None:
        super().__init__()
        blocks = [RepVGGBlock(in_ch, out_ch, stride, eps)]
        blocks += [RepVGGBlock(out_ch, out_ch, 1, eps) for _ in range(num_blocks - 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class RepVGGBackbone(nn.Module):
    """Returns the features at 1/2, 1/4 and 1/8 resolution (the last one is the coarse map)."""

    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        in_channels = [1] + config.out_features[:-1]
        self.stages = nn.ModuleList(
            RepVGGStage(i, o, n, s, config.batch_norm_eps)
            for i, o, n, s in zip(in_channels, config.out_features, config.stage_num_blocks, config.stage_stride)
        )

    def forward(self, image: torch.Tensor, step: Callable[[int, int], None] | None = None) -> list[torch.Tensor]:
        """`step(done, total)`, when given, is called after each block: the caller's progress and cancel check."""
        outputs = []
        x = image
        blocks = [list(stage.blocks) for stage in self.stages]  # type: ignore[arg-type]
        total, done = sum(len(b) for b in blocks), 0
        for stage_blocks in blocks:
            for block in stage_blocks:
                x = block(x)
                done += 1
                if step is not None:
                    step(done, total)
            outputs.append(x)
        return outputs[1:]

    def fuse(self) -> None:
        for stage in self.stages:
            for block in stage.blocks:  # type: ignore[union-attr]
                block.fuse()

    @property
    def is_fused(self) -> bool:
        return all(block.fused is not None for stage in self.stages for block in stage.blocks)  # type: ignore[union-attr]
