"""Fine level: FPN fusion up to full resolution, then two-stage sub-pixel refinement of each coarse match."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.model.config import EfficientLoFTRConfig


class OutConvBlock(nn.Module):
    """Merge a finer backbone level into the upsampled coarser one, then upsample x2."""

    def __init__(self, residual_ch: int, ch: int, eps: float) -> None:
        super().__init__()
        self.out_conv1 = nn.Conv2d(residual_ch, ch, 1, bias=False)
        self.out_conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.batch_norm = nn.BatchNorm2d(ch, eps=eps)
        self.out_conv3 = nn.Conv2d(ch, residual_ch, 3, padding=1, bias=False)

    def forward(
        self, x: torch.Tensor, residual: torch.Tensor, upsample: bool = True, step: Callable[[], None] | None = None
    ) -> torch.Tensor:
        """`step()`, when given, is called between the two 3x3 convolutions (each a long step at large sizes)."""
        x = self.out_conv2(self.out_conv1(residual) + x)
        if step is not None:
            step()
        x = self.out_conv3(F.leaky_relu(self.batch_norm(x)))
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False) if upsample else x

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the eval-mode BatchNorm into the conv before it (one pass over the feature map less)."""
        if isinstance(self.batch_norm, nn.Identity):
            return
        bn = self.batch_norm
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv = self.out_conv2
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=True).to(conv.weight.device)
        fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        assert fused.bias is not None
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.out_conv2 = fused
        self.batch_norm = nn.Identity()  # type: ignore[assignment]


class FineFusion(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        dims = config.fine_fusion_dims
        self.out_conv = nn.Conv2d(dims[0], dims[0], 1, bias=False)
        self.out_conv_layers = nn.ModuleList(
            OutConvBlock(dims[i], dims[i - 1], config.batch_norm_eps) for i in range(1, len(dims))
        )

    def forward(
        self,
        coarse: torch.Tensor,
        residuals: list[torch.Tensor],
        full_resolution: bool = True,
        step: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """coarse: (N, C, h, w) transformer output; residuals: backbone features, finest first.

        Returns the fine map at full resolution, or with full_resolution=False at half resolution before the last
        x2 bilinear upsampling (gather_windows_upsampled then reads windows from it without building the full map).
        `step(done, total)`, when given, is called after each layer (see steps()): progress and cancel check.
        """
        x = F.interpolate(self.out_conv(coarse), scale_factor=2.0, mode="bilinear", align_corners=False)
        layers = list(self.out_conv_layers)
        total = self.steps()
        if step is not None:
            step(1, total)
        for index, (layer, residual) in enumerate(zip(layers, reversed(residuals))):
            halfway = None if step is None else (lambda done=2 * index + 2: step(done, total))
            x = layer(x, residual, full_resolution or index < len(layers) - 1, halfway)
            if step is not None:
                step(2 * index + 3, total)
        return x

    def steps(self) -> int:
        """How many times forward() calls its `step`."""
        return 1 + 2 * len(self.out_conv_layers)

    def fuse(self) -> None:
        for layer in self.out_conv_layers:
            layer.fuse()  # type: ignore[operator]


def _upsample_source(index: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For full-resolution indices, the two half-resolution source indices and the weight of the second, exactly as
    F.interpolate(scale_factor=2, mode="bilinear", align_corners=False) computes them."""
    source = ((index.float() + 0.5) * 0.5 - 0.5).clamp(min=0)
    first = source.floor().long().clamp(max=size - 1)
    weight = source - first.float()
    second = (first + 1).clamp(max=size - 1)
    return first, second, weight


def gather_windows_upsampled(
    half: torch.Tensor,
    batch_ids: torch.Tensor,
    cells: torch.Tensor,
    coarse_w: int,
    size: int,
    pad: int,
    full_hw: tuple[int, int],
) -> torch.Tensor:
    """Like gather_windows on the x2 bilinear upsampling of `half`, computing only the windows' pixels.

    Pixels of a padded window that fall outside the image are zero, as in the original's zero-padded unfold.
    """
    height, width = full_hw
    stride = width // coarse_w
    offsets = torch.arange(size, device=half.device) - pad
    rows = (cells // coarse_w)[:, None] * stride + offsets[None]  # (M, size) full-resolution indices
    cols = (cells % coarse_w)[:, None] * stride + offsets[None]
    r0, r1, wr = _upsample_source(rows, half.shape[-2])
    c0, c1, wc = _upsample_source(cols, half.shape[-1])
    nhwc = half.permute(0, 2, 3, 1)
    b = batch_ids[:, None, None]

    def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return nhwc[b, r[:, :, None], c[:, None, :]]  # (M, size, size, C)

    wr_, wc_ = wr[:, :, None, None], wc[:, None, :, None]
    top = (1 - wc_) * at(r0, c0) + wc_ * at(r0, c1)
    bottom = (1 - wc_) * at(r1, c0) + wc_ * at(r1, c1)
    windows = (1 - wr_) * top + wr_ * bottom
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    windows = windows * inside[..., None].to(windows.dtype)
    return windows.reshape(cells.shape[0], size * size, -1)  # not len(): it would freeze the size when exported


def refine(
    win0: torch.Tensor, win1: torch.Tensor, slice_dim: int, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two-stage fine matching of (M, W*W, C) windows in image 0 against (M, (W+2)^2, C) windows in image 1.

    Returns pixel offsets (M, 2) of the keypoint in window 0 and in window 1 relative to the cell corner, plus the
    sub-pixel correction (M, 2) of the second stage, all in fine pixels, x then y.
    Stage 1: dual softmax between the windows' pixels (first C - slice_dim channels); the inner W x W of window 1.
    Stage 2: softmax over the 3x3 neighbourhood (last slice_dim channels) and its spatial expectation.
    """
    m, ww, c = win0.shape
    w = int(round(ww**0.5))
    feat0, feat1 = win0[..., :-slice_dim] / c**0.5, win1[..., :-slice_dim] / c**0.5
    # Batched matrix products, not einsum: ONNX Runtime's (1.32) Einsum dies of SIGFPE when there is no match (M = 0).
    sim = feat0 @ feat1.transpose(1, 2)
    conf = F.softmax(sim, 1) * F.softmax(sim, 2)
    conf = conf.reshape(m, ww, w + 2, w + 2)[..., 1:-1, 1:-1].reshape(m, -1)
    idx = conf.max(dim=-1).indices
    idx_l, idx_r = idx // ww, idx % ww
    # Pixel centres sit half a pixel off the window centre: offsets run from -(W/2 - 0.5) to W/2 - 0.5.
    centre = w // 2 - 0.5
    off0 = torch.stack([idx_l % w, idx_l // w], dim=-1).float() - centre
    off1 = torch.stack([idx_r % w, idx_r // w], dim=-1).float() - centre

    # Stage 2 looks at rows/cols (r-1 .. r+1) of the padded (W+2)-window, i.e. centred one pixel up-left of the
    # stage-1 pick, and an index of -1 wraps to the last row/col: both exactly as the original's indexing does.
    delta = torch.tensor([-1, 0, 1], device=win0.device)
    rows = ((idx_r // w)[:, None, None] + delta[None, :, None]) % (w + 2)
    cols = ((idx_r % w)[:, None, None] + delta[None, None, :]) % (w + 2)
    neigh = win1[torch.arange(m, device=win0.device)[:, None, None], rows * (w + 2) + cols][..., -slice_dim:]
    q = win0[torch.arange(m, device=win0.device), idx_l][..., -slice_dim:]
    logits = ((neigh / slice_dim**0.5).flatten(1, 2) @ q[:, :, None]).reshape(m, 9)
    heat = F.softmax(logits / temperature, -1).reshape(m, 3, 3)
    grid = torch.linspace(-1, 1, 3, device=win0.device, dtype=heat.dtype)
    # Marginals over rows (-> x) and columns (-> y), then their expectations; stacked before the product because
    # OpenVINO 2026.4 (CPU) miscomputes the stack of the two reduced products in the exported graph.
    subpixel = (torch.stack([heat.sum(1), heat.sum(2)], dim=1) * grid).sum(-1)
    return off0, off1, subpixel
