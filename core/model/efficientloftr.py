"""EfficientLoFTR: backbone -> aggregated-attention transformer -> coarse matching -> two-stage fine refinement."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .backbone import RepVGGBackbone
from .coarse import CoarseMatches, confidence_maxima, select_matches
from .config import EfficientLoFTRConfig
from .fine import FineFusion, gather_windows_upsampled, refine
from .transformer import LocalFeatureTransformer

STAGES = ("backbone", "transformer", "coarse", "fine")


class Cancelled(Exception):
    """Raised between stages when the caller's cancel check says so."""


@dataclass
class StageHooks:
    """Called between stages: `progress(stage_name, fraction_done)`; `cancelled()` aborts the run when true."""

    progress: Callable[[str, float], None] | None = None
    cancelled: Callable[[], bool] | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def enter(self, stage: str) -> float:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(stage)
        if self.progress is not None:
            self.progress(stage, STAGES.index(stage) / len(STAGES))
        return time.perf_counter()

    def leave(self, stage: str, started: float, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.timings[stage] = time.perf_counter() - started


@dataclass
class KeypointMatchingOutput:
    """Per pair b: keypoints[b, 0, k] in image 0 matches keypoints[b, 1, k] in image 1 where matches[b, 0, k] >= 0.

    Keypoints are float pixel coordinates (x, y) in the model-input frame; pairs with fewer matches are padded with
    matches = -1 and scores = 0.
    """

    keypoints: torch.Tensor  # (B, 2, K, 2)
    matches: torch.Tensor  # (B, 2, K)
    matching_scores: torch.Tensor  # (B, 2, K)
    coarse_keypoints: torch.Tensor | None = None  # (B, 2, K, 2) cell corners, for stage-by-stage checks
    input_sizes: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))  # model-input (height, width)
    timings: dict[str, float] = field(default_factory=dict)


class EfficientLoFTRModel(nn.Module):
    """Backbone and coarse transformer (the transformers `efficientloftr.` prefix)."""

    def __init__(self, config: EfficientLoFTRConfig) -> None:
        super().__init__()
        self.backbone = RepVGGBackbone(config)
        self.local_feature_transformer = LocalFeatureTransformer(config)


class EfficientLoFTRForKeypointMatching(nn.Module):
    def __init__(self, config: EfficientLoFTRConfig | None = None) -> None:
        super().__init__()
        self.config = config or EfficientLoFTRConfig()
        self.efficientloftr = EfficientLoFTRModel(self.config)
        self.refinement_layer = FineFusion(self.config)
        self.coarse_threshold = self.config.coarse_matching_threshold
        self.channels_last = False
        self.eval()

    @classmethod
    def from_pretrained(cls, source: str | None = None, **kwargs: object) -> EfficientLoFTRForKeypointMatching:
        from .weights import load_pretrained

        return load_pretrained(cls, source, **kwargs)  # type: ignore[arg-type]

    def fuse(self) -> EfficientLoFTRForKeypointMatching:
        """Re-parameterise the RepVGG backbone and fold the fine-fusion BatchNorms; outputs stay the same."""
        self.efficientloftr.backbone.fuse()
        self.refinement_layer.fuse()
        return self

    def optimize_for_inference(self) -> EfficientLoFTRForKeypointMatching:
        """fuse() plus channels-last weights, which oneDNN convolutions run 10-40% faster on CPU."""
        self.fuse()
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.channels_last = True
        return self

    def _features(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        backbone = self.efficientloftr.backbone
        if not torch.compiler.is_exporting() and image0.shape == image1.shape:  # exported: sizes stay independent
            both = backbone(torch.cat([image0, image1]))
            pairs = [f.chunk(2) for f in both]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return backbone(image0), backbone(image1)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        pixel_values0: torch.Tensor | None = None,
        pixel_values1: torch.Tensor | None = None,
        hooks: StageHooks | None = None,
        **processor_extras: object,
    ) -> KeypointMatchingOutput:
        """pixel_values: (B, 2, 1|3, H, W) pairs of equal size, or pixel_values0/1: (B, 1, H_i, W_i).

        Image sides must be multiples of 32 (the processor takes care of it); values in [0, 1] grayscale.
        Other keys of the processor's output (image_sizes, input_sizes) are accepted, so `model(**inputs)` works.
        """
        if pixel_values is not None:
            if pixel_values.ndim != 5 or pixel_values.shape[1] != 2:
                raise ValueError("pixel_values must have shape (batch, 2, channels, height, width)")
            pixel_values0, pixel_values1 = pixel_values[:, 0, :1], pixel_values[:, 1, :1]
        if pixel_values0 is None or pixel_values1 is None:
            raise ValueError("give pixel_values, or both pixel_values0 and pixel_values1")
        for img in (pixel_values0, pixel_values1):
            if img.shape[-1] % 32 or img.shape[-2] % 32:
                raise ValueError(f"image sides must be multiples of 32, got {tuple(img.shape[-2:])}")
        hooks = hooks or StageHooks()
        device = pixel_values0.device
        if self.channels_last:
            pixel_values0 = pixel_values0.contiguous(memory_format=torch.channels_last)
            pixel_values1 = pixel_values1.contiguous(memory_format=torch.channels_last)
        cfg = self.config

        t = hooks.enter("backbone")
        feats0, feats1 = self._features(pixel_values0, pixel_values1)
        hooks.leave("backbone", t, device)

        t = hooks.enter("transformer")
        coarse0, coarse1 = self.efficientloftr.local_feature_transformer(feats0[-1], feats1[-1])
        hooks.leave("transformer", t, device)

        t = hooks.enter("coarse")
        hw0, hw1 = tuple(coarse0.shape[-2:]), tuple(coarse1.shape[-2:])
        flat0, flat1 = coarse0.flatten(2).transpose(1, 2), coarse1.flatten(2).transpose(1, 2)
        maxima = confidence_maxima(flat0, flat1, cfg.coarse_matching_temperature, cfg.coarse_matching_skip_softmax)
        matches = select_matches(maxima, hw0, hw1, self.coarse_threshold, cfg.coarse_matching_border_removal)  # type: ignore[arg-type]
        hooks.leave("coarse", t, device)

        t = hooks.enter("fine")
        kpts0, kpts1, corners0, corners1 = self._refine(matches, coarse0, coarse1, feats0, feats1)
        hooks.leave("fine", t, device)
        output = self._pack(matches, kpts0, kpts1, corners0, corners1, pixel_values0.shape[0], hooks.timings)
        output.input_sizes = (
            (int(pixel_values0.shape[-2]), int(pixel_values0.shape[-1])),
            (int(pixel_values1.shape[-2]), int(pixel_values1.shape[-1])),
        )
        return output

    def _refine(
        self,
        matches: CoarseMatches,
        coarse0: torch.Tensor,
        coarse1: torch.Tensor,
        feats0: list[torch.Tensor],
        feats1: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        stride = cfg.coarse_stride
        w0, w1 = coarse0.shape[-1], coarse1.shape[-1]
        corners0 = torch.stack([matches.cells0 % w0, matches.cells0 // w0], -1).float() * stride
        corners1 = torch.stack([matches.cells1 % w1, matches.cells1 // w1], -1).float() * stride
        if len(matches.cells0) == 0:
            return corners0, corners1, corners0, corners1
        # The original scales the transformer output by 1/sqrt(C) before the fine fusion.
        scale = coarse0.shape[1] ** 0.5
        # The last x2 upsampling is folded into the window gathering: the full-resolution map is never built.
        fusion = self.refinement_layer
        if not torch.compiler.is_exporting() and coarse0.shape == coarse1.shape:
            residuals = [torch.cat([a, b]) for a, b in zip(feats0[:-1], feats1[:-1])]
            half0, half1 = fusion(torch.cat([coarse0, coarse1]) / scale, residuals, full_resolution=False).chunk(2)
        else:
            half0 = fusion(coarse0 / scale, feats0[:-1], full_resolution=False)
            half1 = fusion(coarse1 / scale, feats1[:-1], full_resolution=False)
        size = cfg.fine_kernel_size
        full0 = (coarse0.shape[-2] * stride, w0 * stride)
        full1 = (coarse1.shape[-2] * stride, w1 * stride)
        win0 = gather_windows_upsampled(half0, matches.batch_ids, matches.cells0, w0, size, 0, full0)
        win1 = gather_windows_upsampled(half1, matches.batch_ids, matches.cells1, w1, size + 2, 1, full1)
        off0, off1, subpixel = refine(
            win0.float(), win1.float(), cfg.fine_matching_slice_dim, cfg.fine_matching_regress_temperature
        )
        # Fine pixels are image pixels (the fine map is at full resolution).
        return corners0 + off0, corners1 + off1 + subpixel, corners0, corners1

    @staticmethod
    def _pack(
        matches: CoarseMatches,
        kpts0: torch.Tensor,
        kpts1: torch.Tensor,
        corners0: torch.Tensor,
        corners1: torch.Tensor,
        batch: int,
        timings: dict[str, float],
    ) -> KeypointMatchingOutput:
        device = kpts0.device
        counts = torch.bincount(matches.batch_ids, minlength=batch)
        k = int(counts.max()) if batch else 0
        keypoints = torch.zeros(batch, 2, k, 2, device=device)
        coarse = torch.zeros(batch, 2, k, 2, device=device)
        match_ids = torch.full((batch, 2, k), -1, dtype=torch.long, device=device)
        scores = torch.zeros(batch, 2, k, device=device)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(matches.batch_ids), device=device) - starts[matches.batch_ids]
        b = matches.batch_ids
        for side, (kp, corner) in enumerate(((kpts0, corners0), (kpts1, corners1))):
            keypoints[b, side, slot] = kp.float()
            coarse[b, side, slot] = corner.float()
            match_ids[b, side, slot] = slot
            scores[b, side, slot] = matches.confidence.float()
        return KeypointMatchingOutput(keypoints, match_ids, scores, coarse_keypoints=coarse, timings=dict(timings))
