"""Fine level: FPN fusion up to full resolution, then two-stage sub-pixel refinement of each coarse match."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import EfficientLoFTRConfig


class OutConvBlock(nn.Module):
    """Merge a finer backbone level into the upsampled coarser one, then upsample x2."""

    def __init__(self, residual_ch: int, ch: int, eps: float) -> None:
        super().__init__()
        self.out_conv1 = nn.Conv2d(residual_ch, ch, 1, bias=False)
        self.out_conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.batch_norm = nn.BatchNorm2d(ch, eps=eps)
        self.out_conv3 = nn.Conv2d(ch, residual_ch, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        x = self.out_conv2(self.out_conv1(residual) + x)
        x = self.out_conv3(F.leaky_relu(self.batch_norm(x)))
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class FineFusion(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        dims = config.fine_fusion_dims
        self.out_conv = nn.Conv2d(dims[0], dims[0], 1, bias=False)
        self.out_conv_layers = nn.ModuleList(
            OutConvBlock(dims[i], dims[i - 1], config.batch_norm_eps) for i in range(1, len(dims))
        )

    def forward(self, coarse: torch.Tensor, residuals: list[torch.Tensor]) -> torch.Tensor:
        """coarse: (N, C, h, w) transformer output; residuals: backbone features, finest first."""
        x = F.interpolate(self.out_conv(coarse), scale_factor=2.0, mode="bilinear", align_corners=False)
        for layer, residual in zip(self.out_conv_layers, reversed(residuals)):
            x = layer(x, residual)
        return x


def gather_windows(
    fine: torch.Tensor, batch_ids: torch.Tensor, cells: torch.Tensor, coarse_w: int, size: int, pad: int
) -> torch.Tensor:
    """Windows of `size` x `size` fine pixels for the given coarse cells -> (M, size*size, C).

    Same windows as the original's unfold over the whole map (stride = coarse stride, zero padding `pad`), but only
    for the cells that matched.
    """
    stride = fine.shape[-1] // coarse_w
    if pad:
        fine = F.pad(fine, [pad, pad, pad, pad])
    fine = fine.permute(0, 2, 3, 1)  # (N, H, W, C)
    offsets = torch.arange(size, device=fine.device)
    top = (cells // coarse_w) * stride
    left = (cells % coarse_w) * stride
    rows = (top[:, None] + offsets[None])[:, :, None]
    cols = (left[:, None] + offsets[None])[:, None, :]
    windows = fine[batch_ids[:, None, None], rows, cols]  # (M, size, size, C)
    return windows.reshape(len(cells), size * size, -1)


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
    sim = torch.einsum("mlc,mrc->mlr", feat0, feat1)
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
    logits = torch.einsum("mc,mijc->mij", q, neigh / slice_dim**0.5).reshape(m, 9)
    heat = F.softmax(logits / temperature, -1).reshape(m, 3, 3)
    grid = torch.linspace(-1, 1, 3, device=win0.device, dtype=heat.dtype)
    subpixel = torch.stack([(heat.sum(1) * grid).sum(-1), (heat.sum(2) * grid).sum(-1)], dim=-1)
    return off0, off1, subpixel
