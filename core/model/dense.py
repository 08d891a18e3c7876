"""The whole matcher as one graph with fixed-size outputs, for export (ONNX) and the runtimes that run it.

The number of matches depends on the data, which exported graphs handle badly; so the graph refines every coarse
cell of image 0 against its best cell in image 1 and returns, per cell, the keypoints, the score and whether the
cell is a match (mutual nearest neighbour, above the threshold, away from the borders). The host keeps the rows
where that flag is set, which gives exactly the matches of the eager model, in the same order: each match's
refinement reads only its own windows.
"""

from __future__ import annotations

import torch
from torch import nn

from .coarse import EXP_FLOOR, CoarseMatches, ConfidenceMaxima, match_mask, similarity
from .efficientloftr import EfficientLoFTRForKeypointMatching


def dense_confidence_maxima(
    feat0: torch.Tensor, feat1: torch.Tensor, temperature: float, skip_softmax: bool
) -> ConfidenceMaxima:
    """confidence_maxima() without the row-block loop (its block count depends on the image size).

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
    """(image0 (1, 1, H0, W0), image1 (1, 1, H1, W1), threshold ()) -> per coarse cell of image 0:
    keypoints0 (L, 2), keypoints1 (L, 2) in model-input pixels, scores (L,), is_match (L,) bool."""

    def __init__(self, model: EfficientLoFTRForKeypointMatching) -> None:
        super().__init__()
        self.model = model
        self.eval()

    def forward(
        self, image0: torch.Tensor, image1: torch.Tensor, threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        model, cfg = self.model, self.model.config
        feats0, feats1 = model._features(image0, image1)
        coarse0, coarse1 = model.efficientloftr.local_feature_transformer(feats0[-1], feats1[-1])
        hw0, hw1 = (coarse0.shape[-2], coarse0.shape[-1]), (coarse1.shape[-2], coarse1.shape[-1])
        flat0, flat1 = coarse0.flatten(2).transpose(1, 2), coarse1.flatten(2).transpose(1, 2)
        maxima = dense_confidence_maxima(
            flat0, flat1, cfg.coarse_matching_temperature, cfg.coarse_matching_skip_softmax
        )
        is_match = match_mask(maxima, hw0, hw1, threshold, cfg.coarse_matching_border_removal)[0]
        cells0 = torch.arange(maxima.best.shape[1], device=image0.device)
        every_cell = CoarseMatches(torch.zeros_like(cells0), cells0, maxima.best[0], maxima.row_max[0])
        kpts0, kpts1, _, _ = model._refine(every_cell, coarse0, coarse1, feats0, feats1)
        return kpts0, kpts1, maxima.row_max[0], is_match
