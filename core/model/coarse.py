"""Coarse matching: dual-softmax confidence, threshold, border removal, mutual nearest neighbour."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class CoarseMatches:
    batch_ids: torch.Tensor  # (M,) pair index of each match
    cells0: torch.Tensor  # (M,) flat coarse-cell index in image 0
    cells1: torch.Tensor  # (M,) flat coarse-cell index in image 1
    confidence: torch.Tensor  # (M,)


CHUNK_BYTES = 4 << 20  # rows per step sized to stay in cache
# exp() of arguments below about -87 gives float32 denormals, which take a slow path on CPU; the dual softmax
# treats those confidences (below 1.6e-38) as exactly zero.
EXP_FLOOR = -87.0


def similarity(feat0: torch.Tensor, feat1: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, L, C) x (N, S, C) -> (N, L, S) scaled dot products, in float32 even under mixed precision."""
    scale = feat0.shape[-1] ** 0.5
    sim = torch.einsum("nlc,nsc->nls", feat0.float() / scale, feat1.float() / scale)
    return sim.div_(temperature)


def _log_normalisers(sim: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log of each row's and each column's softmax sum, (N, L, 1) and (N, 1, S), a few rows at a time."""
    n, rows, cols = sim.shape
    col_max = sim.amax(dim=1, keepdim=True)
    col_sum = torch.zeros_like(col_max)
    row_lse = torch.empty(n, rows, 1, dtype=sim.dtype, device=sim.device)
    scratch = torch.empty(n, min(step, rows), cols, dtype=sim.dtype, device=sim.device)
    for start in range(0, rows, step):
        block = sim[:, start : start + step]
        work = scratch[:, : block.shape[1]]
        row_max = block.amax(dim=2, keepdim=True)
        torch.sub(block, row_max, out=work).clamp_(min=EXP_FLOOR).exp_()
        row_lse[:, start : start + step] = row_max + work.sum(dim=2, keepdim=True).log_()
        torch.sub(block, col_max, out=work).clamp_(min=EXP_FLOOR).exp_()
        col_sum += work.sum(dim=1, keepdim=True)
    return row_lse, col_max + col_sum.log_()


def _dual_softmax_in_place(sim: torch.Tensor) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Turn sim into softmax(sim, 1) * softmax(sim, 2) in place, a few rows at a time; yields each finished block
    with the column log-normalisers (N, 1, S).

    exp(2 sim - lse_rows - lse_cols) equals the product of the two softmaxes; working in row blocks keeps one
    L x S matrix in memory (the original holds four) and makes two passes over it instead of about ten.
    Only for tensors that need no gradient: the in-place steps would break autograd.
    """
    step = max(1, CHUNK_BYTES // max(1, sim.shape[2] * sim.element_size()))
    row_lse, col_lse = _log_normalisers(sim, step)
    for start in range(0, sim.shape[1], step):
        block = sim[:, start : start + step]
        block.mul_(2).sub_(row_lse[:, start : start + step]).sub_(col_lse)
        underflow = block < EXP_FLOOR
        block.clamp_(min=EXP_FLOOR).exp_().masked_fill_(underflow, 0.0)
        yield start, block, col_lse


def _dual_softmax(sim: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same confidence as _dual_softmax_in_place, out of place so gradients flow; (N, L, S) and (N, 1, S)."""
    col_lse = torch.logsumexp(sim, dim=1, keepdim=True)
    logits = 2 * sim - torch.logsumexp(sim, dim=2, keepdim=True) - col_lse
    return torch.exp(logits.clamp(min=EXP_FLOOR)).masked_fill(logits < EXP_FLOOR, 0.0), col_lse


def confidence_matrix(feat0: torch.Tensor, feat1: torch.Tensor, temperature: float, skip_softmax: bool) -> torch.Tensor:
    """feat0: (N, L, C), feat1: (N, S, C) -> (N, L, S) confidence (dual softmax) or logits (skip_softmax)."""
    sim = similarity(feat0, feat1, temperature)
    if skip_softmax:
        return sim
    if sim.requires_grad:
        return _dual_softmax(sim)[0]
    for _ in _dual_softmax_in_place(sim):
        pass
    return sim


@dataclass
class ConfidenceMaxima:
    row_max: torch.Tensor  # (N, L) best confidence of each image-0 cell
    best: torch.Tensor  # (N, L) the image-1 cell that has it
    col_max: torch.Tensor  # (N, S) best confidence of each image-1 cell
    # (N, S) log of each image-1 column's softmax sum: with it, one row of the confidence needs only its own cell's
    # features (see core.ambiguity). None when the softmax is skipped.
    col_lse: torch.Tensor | None = None


def confidence_maxima(
    feat0: torch.Tensor, feat1: torch.Tensor, temperature: float, skip_softmax: bool
) -> ConfidenceMaxima:
    """What matching needs from the confidence matrix, gathered while each block is still in cache."""
    sim = similarity(feat0, feat1, temperature)
    if skip_softmax:
        row_max, best = sim.max(dim=2)
        return ConfidenceMaxima(row_max, best, sim.amax(dim=1))
    if sim.requires_grad:
        confidence, lse = _dual_softmax(sim)
        row_max, best = confidence.max(dim=2)
        return ConfidenceMaxima(row_max, best, confidence.amax(dim=1), lse[:, 0])
    n, rows, cols = sim.shape
    row_max = torch.empty(n, rows, dtype=sim.dtype, device=sim.device)
    best = torch.empty(n, rows, dtype=torch.long, device=sim.device)
    col_max = torch.full((n, cols), float("-inf"), dtype=sim.dtype, device=sim.device)
    col_lse: torch.Tensor | None = None
    for start, block, block_col_lse in _dual_softmax_in_place(sim):
        values, indices = block.max(dim=2)
        row_max[:, start : start + block.shape[1]] = values
        best[:, start : start + block.shape[1]] = indices
        torch.maximum(col_max, block.amax(dim=1), out=col_max)
        col_lse = block_col_lse[:, 0]
    return ConfidenceMaxima(row_max, best, col_max, col_lse)


def _inside_border(height: int, width: int, border: int, device: torch.device) -> torch.Tensor:
    keep = torch.ones(height, width, dtype=torch.bool, device=device)
    if border > 0:
        keep[:border] = False
        keep[-border:] = False
        keep[:, :border] = False
        keep[:, -border:] = False
    return keep.reshape(-1)


def match_mask(
    maxima: ConfidenceMaxima,
    hw0: tuple[int, int],
    hw1: tuple[int, int],
    threshold: float | torch.Tensor,
    border: int,
) -> torch.Tensor:
    """(N, L) true where image-0 cell l and its best image-1 cell are mutual nearest neighbours above `threshold`,
    away from the borders.

    The nearest neighbours are taken over all cells, borders included, exactly as the original does; the border and
    threshold then only decide which of them are kept.
    """
    row_max, best_j, col_max = maxima.row_max, maxima.best, maxima.col_max
    mutual = row_max == torch.gather(col_max, 1, best_j)
    keep = mutual & (row_max > threshold)
    keep &= _inside_border(*hw0, border, row_max.device)[None]
    keep &= _inside_border(*hw1, border, row_max.device)[best_j]
    return keep


def select_matches(
    maxima: ConfidenceMaxima, hw0: tuple[int, int], hw1: tuple[int, int], threshold: float, border: int
) -> CoarseMatches:
    """The matches of match_mask(), as flat cell indices."""
    row_max, best_j = maxima.row_max, maxima.best
    batch_ids, cells0 = torch.where(match_mask(maxima, hw0, hw1, threshold, border))
    cells1 = best_j[batch_ids, cells0]
    return CoarseMatches(batch_ids, cells0, cells1, row_max[batch_ids, cells0])
