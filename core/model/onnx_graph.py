"""The networks of the matcher as one graph, for export (ONNX) and the runtimes that run it.

The graph ends at the feature maps: backbone, transformer and the fine fusion, with no data-dependent step. What
follows (the coarse matching in row blocks, which keeps memory at one confidence matrix, and the refinement of the
matches only) is core.model.efficientloftr.match_feature_maps, the eager model's own code.
"""

from __future__ import annotations

import torch
from torch import nn

from core.model.efficientloftr import EfficientLoFTRForKeypointMatching


class FeatureGraph(nn.Module):
    """(image0 (1, 1, H0, W0), image1 (1, 1, H1, W1)) -> coarse maps (1, C, H/8, W/8) after the transformer and
    fine maps (1, C', H/2, W/2) after the fusion, of each image; sides multiples of 32."""

    def __init__(self, model: EfficientLoFTRForKeypointMatching) -> None:
        super().__init__()
        self.model = model
        self.eval()

    def forward(
        self, image0: torch.Tensor, image1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        model = self.model
        feats0, feats1 = model._features(image0, image1)
        coarse0, coarse1 = model.efficientloftr.local_feature_transformer(feats0[-1], feats1[-1])
        fine0, fine1 = model.fine_maps(coarse0, coarse1, feats0, feats1)
        return coarse0, coarse1, fine0, fine1
