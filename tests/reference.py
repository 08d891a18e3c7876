"""The original EfficientLoFTR (PyPI `efficientloftr-inference`) with random weights that produce real matches.

Default random init gives a flat coarse confidence and no matches. Two changes make the weights match:
1. the BatchNorm running statistics are calibrated on synthetic textured images (BatchNorm layers in train mode with
   cumulative averaging, everything else in eval mode), so activations have a realistic scale;
2. the gains and biases of each transformer layer's output LayerNorm (`norm2`) are multiplied by 4, which makes the
   coarse features distinct enough for the dual softmax to peak, as trained weights do.
The result: 50-100 matches on a 640x480 pair (mostly geometrically wrong, as expected of untrained weights), and
none on a blank pair.
"""

from __future__ import annotations

import numpy as np
import torch

from core.analysis.synthetic import textured_scene
from core.processor import to_gray


def gray_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_gray(rgb))[None, None]


NORM2_GAIN = 4.0


def calibrated_reference(seed: int = 0, threshold: float = 0.2):
    from efficientloftr_inference import LoFTR, full_config

    torch.manual_seed(seed)
    reference = LoFTR(full_config(coarse_threshold=threshold)).eval()
    batch_norms = [m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in batch_norms:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        for k in range(2):
            image0 = gray_tensor(textured_scene(256, 320, seed * 10 + k))
            image1 = gray_tensor(textured_scene(256, 320, seed * 10 + k + 5))
            reference({"image0": image0, "image1": image1})
    reference.eval()
    with torch.no_grad():
        for name, tensor in reference.named_parameters():
            if ".norm2." in name:
                tensor.mul_(NORM2_GAIN)
    return reference


def run_reference(reference, image0: torch.Tensor, image1: torch.Tensor) -> dict:
    data = {"image0": image0, "image1": image1}
    with torch.no_grad():
        reference(data)
    return data


def reference_state_dict(reference) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in reference.state_dict().items()}
