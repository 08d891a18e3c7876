"""The whole matcher as one graph, for export (ONNX) and the runtimes that run it.

Same arithmetic as the eager model, restricted to what a graph can express: the dual softmax over the whole
confidence matrix (no row-block loop, whose block count depends on the image size), the matches picked with a
data-dependent count (NonZero in ONNX), and only those cells refined, in the eager model's order.
"""

from __future__ import annotations

import torch
from torch import nn

from core.model.coarse import EXP_FLOOR, CoarseMatches, ConfidenceMaxima, match_mask, similarity
from core.model.efficientloftr import EfficientLoFTRForKeypointMatching


def dense_confidence_maxima(
    feat0: torch.Tensor, feat1: torch.Tensor, temperature: float, skip_softmax: bool
) -> ConfidenceMaxima:
    """confidence_maxima() without the row-block loop.

    Same arithmetic as the blocked dual softmax: log-sum-exps with exp() floored at EXP_FLOOR, and confidences whose
    exponent underflows set to exactly zero; only the summation order of the column sums differs (float rounding).
    """
    sim = similarity(feat0, feat1, temperature)
    if not skip_softmax:
        row_max = sim.amax(dim=2, keepdim=True)
        col_max = sim.amax(dim=1, keepdim=True)
        row_lse = row_max + (sim - row_max).clamp(min=EXP_FLOOR).exp().sum(dim=2, keepdim=True).log()
        col_lse = col_max + (sim - col_max).clamp(min=EXP_FLOOR).exp().sum(dim=1, keepdim=True).log()
        exponent = 2 * sim - row_lse - col_lse
        sim = torch.where(exponent < EXP_FLOOR, 0.0, exponent.clamp(min=EXP_FLOOR).exp())
    values, best = sim.max(dim=2)
    return ConfidenceMaxima(values, best, sim.amax(dim=1))


class DenseMatcher(nn.Module):
    """(image0 (1, 1, H0, W0), image1 (1, 1, H1, W1), threshold ()) -> keypoints0 (N, 2), keypoints1 (N, 2) in
    model-input pixels and scores (N,) of the N matches, in the eager model's order (image-0 cell)."""

    def __init__(self, model: EfficientLoFTRForKeypointMatching) -> None:
        super().__init__()
        self.model = model
        self.eval()

    def forward(
        self, image0: torch.Tensor, image1: torch.Tensor, threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        model, cfg = self.model, self.model.config
        feats0, feats1 = model._features(image0, image1)
        coarse0, coarse1 = model.efficientloftr.local_feature_transformer(feats0[-1], feats1[-1])
        hw0, hw1 = (coarse0.shape[-2], coarse0.shape[-1]), (coarse1.shape[-2], coarse1.shape[-1])
        flat0, flat1 = coarse0.flatten(2).transpose(1, 2), coarse1.flatten(2).transpose(1, 2)
        maxima = dense_confidence_maxima(
            flat0, flat1, cfg.coarse_matching_temperature, cfg.coarse_matching_skip_softmax
        )
        is_match = match_mask(maxima, hw0, hw1, threshold, cfg.coarse_matching_border_removal)[0]
        cells0 = torch.nonzero(is_match)[:, 0]
        scores = maxima.row_max[0][cells0]
        matches = CoarseMatches(torch.zeros_like(cells0), cells0, maxima.best[0][cells0], scores)
        kpts0, kpts1, _, _ = model._refine(matches, coarse0, coarse1, feats0, feats1)
        return kpts0, kpts1, scores
