"""Coarse matching: dual-softmax confidence, threshold, border removal, mutual nearest neighbour."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CoarseMatches:
    batch_ids: torch.Tensor  # (M,) pair index of each match
    cells0: torch.Tensor  # (M,) flat coarse-cell index in image 0
    cells1: torch.Tensor  # (M,) flat coarse-cell index in image 1
    confidence: torch.Tensor  # (M,)


def confidence_matrix(feat0: torch.Tensor, feat1: torch.Tensor, temperature: float, skip_softmax: bool) -> torch.Tensor:
    """feat0: (N, L, C), feat1: (N, S, C) -> (N, L, S) confidence (dual softmax) or logits (skip_softmax)."""
    scale = feat0.shape[-1] ** 0.5
    sim = torch.einsum("nlc,nsc->nls", feat0.float() / scale, feat1.float() / scale) / temperature
    if skip_softmax:
        return sim
    return F.softmax(sim, 1).mul_(F.softmax(sim, 2))


def _inside_border(height: int, width: int, border: int, device: torch.device) -> torch.Tensor:
    keep = torch.ones(height, width, dtype=torch.bool, device=device)
    if border > 0:
        keep[:border] = False
        keep[-border:] = False
        keep[:, :border] = False
        keep[:, -border:] = False
    return keep.reshape(-1)


def select_matches(
    conf: torch.Tensor, hw0: tuple[int, int], hw1: tuple[int, int], threshold: float, border: int
) -> CoarseMatches:
    """Mutual nearest neighbours of `conf` above `threshold`, away from the borders.

    The nearest neighbours are taken over all cells, borders included, exactly as the original does; the border and
    threshold then only decide which of them are kept.
    """
    row_max, best_j = conf.max(dim=2)  # (N, L)
    col_max = conf.max(dim=1).values  # (N, S)
    mutual = row_max == torch.gather(col_max, 1, best_j)
    keep = mutual & (row_max > threshold)
    keep &= _inside_border(*hw0, border, conf.device)[None]
    keep &= _inside_border(*hw1, border, conf.device)[best_j]
    batch_ids, cells0 = torch.where(keep)
    cells1 = best_j[batch_ids, cells0]
    return CoarseMatches(batch_ids, cells0, cells1, row_max[batch_ids, cells0])
