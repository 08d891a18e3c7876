"""Coarse matching: dual-softmax confidence, threshold, border removal, mutual nearest neighbour.

Images padded to the model's size multiple (see EfficientLoFTRForKeypointMatching) keep their padding out of the
matching: `inside` gives, per image, the (rows, cols) of coarse cells at the grid's top left that the image covers
wholly; the cells beyond take no part in the softmaxes and never match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
# Added to the similarity of each padding cell (twice for a pair of them), as the original LoFTR masks padding: far
# enough below any real similarity that every confidence involving a padding cell comes out exactly zero.
PADDING_SIMILARITY = -1e9

CellCounts = tuple[int, int]  # (rows, cols) of coarse cells an image covers wholly, from the grid's top left
Step = Callable[[int, int], None]  # (done, total) blocks: the caller's progress and cancel check


def similarity(feat0: torch.Tensor, feat1: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, L, C) x (N, S, C) -> (N, L, S) scaled dot products, in float32 even under mixed precision."""
    scale = feat0.shape[-1] ** 0.5
    sim = torch.einsum("nlc,nsc->nls", feat0.float() / scale, feat1.float() / scale)
    return sim.div_(temperature)


def _log_normalisers(
    sim: torch.Tensor, step: int, tick: Callable[[int], None] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """log of each row's and each column's softmax sum, (N, L, 1) and (N, 1, S), a few rows at a time; `tick(k)`
    after the k-th block of rows."""
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
        if tick is not None:
            tick(start // step + 1)
    return row_lse, col_max + col_sum.log_()


def _dual_softmax_logits_in_place(
    sim: torch.Tensor, step: Step | None = None
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Turn sim into the log of softmax(sim, 1) * softmax(sim, 2) in place, a few rows at a time; yields each
    finished block with the column log-normalisers (N, 1, S). `step(done, total)` is called after each block of
    both passes.

    The log of the product of the two softmaxes is 2 sim - lse_rows - lse_cols; working in row blocks keeps one
    L x S matrix in memory (the original holds four) and makes two passes over it instead of about ten.
    Only for tensors that need no gradient: the in-place steps would break autograd.
    """
    rows = max(1, CHUNK_BYTES // max(1, sim.shape[2] * sim.element_size()))
    blocks = -(-sim.shape[1] // rows)
    tick = None if step is None else (lambda done: step(done, 2 * blocks))
    row_lse, col_lse = _log_normalisers(sim, rows, tick)
    for start in range(0, sim.shape[1], rows):
        block = sim[:, start : start + rows]
        block.mul_(2).sub_(row_lse[:, start : start + rows]).sub_(col_lse)
        yield start, block, col_lse
        if tick is not None:
            tick(blocks + start // rows + 1)


def exp_with_floor(logits: torch.Tensor) -> torch.Tensor:
    """exp, in place, with logits below EXP_FLOOR giving exactly zero (see EXP_FLOOR)."""
    underflow = logits < EXP_FLOOR
    return logits.clamp_(min=EXP_FLOOR).exp_().masked_fill_(underflow, 0.0)


def _dual_softmax_in_place(
    sim: torch.Tensor, step: Step | None = None
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """As _dual_softmax_logits_in_place, each block turned into the confidence itself."""
    for start, block, col_lse in _dual_softmax_logits_in_place(sim, step):
        yield start, exp_with_floor(block), col_lse


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


def image_cells(grid: tuple[int, int], inside: CellCounts, device: torch.device) -> torch.Tensor:
    """(rows * cols,) true for the cells of a coarse grid that the image covers wholly, false for padding."""
    return _inside_border(*grid, 0, device, inside)


def _mask_padding(sim: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor) -> torch.Tensor:
    """Lower the similarity (N, L, S) of padding cells, in place; valid0 (L,) and valid1 (S,) mark image cells.

    Added rather than filled: a padding row or column then still peaks at its pairs with image cells, so its
    log-sum-exp stays close to PADDING_SIMILARITY and the confidences of padding pairs underflow to zero too.
    """
    zero = torch.zeros((), dtype=sim.dtype, device=sim.device)
    sim.add_(torch.where(valid0, zero, PADDING_SIMILARITY)[None, :, None])
    return sim.add_(torch.where(valid1, zero, PADDING_SIMILARITY)[None, None, :])


@dataclass
class ConfidenceMaxima:
    row_max: torch.Tensor  # (N, L) best confidence of each image-0 cell
    best: torch.Tensor  # (N, L) the image-1 cell that has it
    col_max: torch.Tensor  # (N, S) best confidence of each image-1 cell
    # (N, S) log of each image-1 column's softmax sum: with it, one row of the confidence needs only its own cell's
    # features (see core.analysis.ambiguity). None when the softmax is skipped.
    col_lse: torch.Tensor | None = None


def confidence_maxima(
    feat0: torch.Tensor,
    feat1: torch.Tensor,
    temperature: float,
    skip_softmax: bool,
    valid: tuple[torch.Tensor, torch.Tensor] | None = None,
    step: Step | None = None,
) -> ConfidenceMaxima:
    """What matching needs from the confidence matrix, gathered while each block is still in cache.

    `valid`: the image cells (L,) and (S,) of padded images (see image_cells); padding cells get zero confidence.
    `step(done, total)`, when given, is called after each block of rows (the in-place dual softmax only).
    """
    sim = similarity(feat0, feat1, temperature)
    if valid is not None:
        _mask_padding(sim, *valid)
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
    # The maxima of the log-confidence, then exp of those alone: exp is monotonic, so they are the confidence's
    # maxima, with a pass of exp over the whole matrix saved.
    for start, block, block_col_lse in _dual_softmax_logits_in_place(sim, step):
        values, indices = block.max(dim=2)
        row_max[:, start : start + block.shape[1]] = values
        best[:, start : start + block.shape[1]] = indices
        torch.maximum(col_max, block.amax(dim=1), out=col_max)
        col_lse = block_col_lse[:, 0]
    return ConfidenceMaxima(exp_with_floor(row_max), best, exp_with_floor(col_max), col_lse)


def _inside_border(
    height: int, width: int, border: int, device: torch.device, inside: CellCounts | None = None
) -> torch.Tensor:
    """(height * width,) true for the cells at least `border` cells from the image's edges.

    With `inside`, only that top-left part of the grid is image: the border is counted from its edges, and the
    padding beyond is never kept (as the original's mask_border_with_padding).
    """
    rows, cols = (height, width) if inside is None else inside
    keep = torch.ones(rows, cols, dtype=torch.bool, device=device)
    if border > 0:
        keep[:border] = False
        keep[-border:] = False
        keep[:, :border] = False
        keep[:, -border:] = False
    if inside is not None:
        grid = torch.zeros(height, width, dtype=torch.bool, device=device)
        grid[:rows, :cols] = keep
        keep = grid
    return keep.reshape(-1)


def match_mask(
    maxima: ConfidenceMaxima,
    hw0: tuple[int, int],
    hw1: tuple[int, int],
    threshold: float | torch.Tensor,
    border: int,
    inside: tuple[CellCounts, CellCounts] | None = None,
) -> torch.Tensor:
    """(N, L) true where image-0 cell l and its best image-1 cell are mutual nearest neighbours above `threshold`,
    away from the borders (and, for padded images, inside both images: see `inside` in the module docstring).

    The nearest neighbours are taken over all cells, borders included, exactly as the original does; the border and
    threshold then only decide which of them are kept.
    """
    row_max, best_j, col_max = maxima.row_max, maxima.best, maxima.col_max
    inside0, inside1 = inside or (None, None)
    mutual = row_max == torch.gather(col_max, 1, best_j)
    keep = mutual & (row_max > threshold)
    keep &= _inside_border(*hw0, border, row_max.device, inside0)[None]
    keep &= _inside_border(*hw1, border, row_max.device, inside1)[best_j]
    return keep


def select_matches(
    maxima: ConfidenceMaxima,
    hw0: tuple[int, int],
    hw1: tuple[int, int],
    threshold: float,
    border: int,
    inside: tuple[CellCounts, CellCounts] | None = None,
) -> CoarseMatches:
    """The matches of match_mask(), as flat cell indices."""
    row_max, best_j = maxima.row_max, maxima.best
    batch_ids, cells0 = torch.where(match_mask(maxima, hw0, hw1, threshold, border, inside))
    cells1 = best_j[batch_ids, cells0]
    return CoarseMatches(batch_ids, cells0, cells1, row_max[batch_ids, cells0])
