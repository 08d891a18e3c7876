"""Where else could this point have matched? One match's row of the coarse confidence matrix, as a map over image 1.

Computed on demand from the coarse features kept with an EfficientLoFTR result (types.CoarseEvidence), never from
the whole matrix: one row costs one (S x C) product. numpy only (no torch, no Qt), so the GUI can call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.types import CoarseEvidence, MatchResult

# Peaks closer than this many coarse cells (Chebyshev distance) to a stronger one are the same peak.
PEAK_SEPARATION_CELLS = 2
# Peaks listed for display: those at least this fraction of the best one.
LISTED_PEAK_FRACTION = 0.01
# As the model's dual softmax (core.model.coarse.EXP_FLOOR): below exp(-87) the confidence is exactly zero.
EXP_FLOOR = -87.0


class NoCoarseEvidence(ValueError):
    """The result has no coarse features: SIFT matches, a loaded session or match file, or features not kept."""


@dataclass(frozen=True)
class AmbiguityMap:
    confidence: np.ndarray  # (rows, cols) float32: the match's coarse confidence with every image-1 cell
    chosen_cell: tuple[int, int]  # (row, col) of the image-1 cell the match was made with
    cell_size: tuple[float, float]  # (width, height) of one cell in original image-1 pixels; cell (r, c) spans
    # x in [c * width, (c + 1) * width) and y in [r * height, (r + 1) * height)
    peaks: np.ndarray  # (P, 2) (row, col) of the separated peaks, strongest first (those >= 1% of the best)
    peak_values: np.ndarray  # (P,) their confidence
    ambiguity: float  # second-best separated peak / best peak: 0 unique, 1 as good as the best

    @property
    def peak_ratio(self) -> float:
        """Best peak / second-best separated peak (inf when there is no second peak)."""
        return 1.0 / self.ambiguity if self.ambiguity > 0 else float("inf")


def evidence_of(result: MatchResult) -> CoarseEvidence:
    if result.coarse is None:
        raise NoCoarseEvidence(
            "these matches carry no coarse features (SIFT, a loaded session or match file, or features not kept): "
            "run EfficientLoFTR on the pair to see where else a point could have matched"
        )
    return result.coarse


def confidence_rows(evidence: CoarseEvidence, indices: np.ndarray) -> np.ndarray:
    """(len(indices), S) float32: the coarse confidence rows of these matches, as the model computed them.

    Dual softmax: exp(2 s - logsumexp_row(s) - column_lse); with the softmax skipped ("opt" variant, whose scores
    are raw similarities), the row's own softmax exp(s - logsumexp_row(s)) stands in.
    """
    channels = evidence.features0.shape[1]
    query = evidence.features0[indices] / np.float32(channels**0.5)
    keys = evidence.features1 / np.float32(channels**0.5)
    sim = (query @ keys.T) / np.float32(evidence.temperature)
    peak = sim.max(axis=1, keepdims=True)
    row_lse = peak + np.log(np.exp(np.maximum(sim - peak, EXP_FLOOR)).sum(axis=1, keepdims=True))
    if evidence.column_lse is None:
        logits = sim - row_lse
    else:
        logits = 2 * sim - row_lse - evidence.column_lse[None]
    rows = np.exp(np.maximum(logits, EXP_FLOOR))
    rows[logits < EXP_FLOOR] = 0.0
    return rows.astype(np.float32)


def _max_filter(maps: np.ndarray, radius: int) -> np.ndarray:
    """Square max filter over the last two axes (separable), borders padded with -inf."""
    out = maps
    for axis in (-2, -1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, constant_values=-np.inf)
        length = out.shape[axis]
        out = np.max([np.take(padded, range(k, k + length), axis=axis) for k in range(2 * radius + 1)], axis=0)
    return out


def _local_maxima(maps: np.ndarray) -> np.ndarray:
    """Cells that are the largest within their 3x3 neighbourhood and above zero."""
    return (maps == _max_filter(maps, 1)) & (maps > 0)


def _second_peaks(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best value and best local maximum farther than PEAK_SEPARATION_CELLS from it, per map (n, rows, cols)."""
    n, rows, cols = maps.shape
    flat = maps.reshape(n, -1)
    best_index = flat.argmax(axis=1)
    best = flat[np.arange(n), best_index]
    r, c = np.divmod(best_index, cols)
    grid_r, grid_c = np.arange(rows)[None, :, None], np.arange(cols)[None, None, :]
    near = (np.abs(grid_r - r[:, None, None]) <= PEAK_SEPARATION_CELLS) & (
        np.abs(grid_c - c[:, None, None]) <= PEAK_SEPARATION_CELLS
    )
    candidates = np.where(_local_maxima(maps) & ~near, maps, 0.0)
    return best, candidates.reshape(n, -1).max(axis=1)


def _ratio(second: np.ndarray, best: np.ndarray) -> np.ndarray:
    return np.where(best > 0, second / np.where(best > 0, best, 1.0), 0.0).astype(np.float32)


def ambiguity_map(result: MatchResult, index: int) -> AmbiguityMap:
    """The coarse confidence of match `index` (a row of the result) over image 1, with its separated peaks.

    Raises NoCoarseEvidence when the result has no coarse features, IndexError for a match that does not exist.
    """
    evidence = evidence_of(result)
    if not 0 <= index < len(result):
        raise IndexError(f"match {index} does not exist ({len(result)} matches)")
    rows, cols = evidence.grid1
    confidence = confidence_rows(evidence, np.array([index]))[0].reshape(rows, cols)
    best, second = _second_peaks(confidence[None])
    peaks = _separated_peaks(confidence)
    height, width = result.image_sizes[1]
    return AmbiguityMap(
        confidence=confidence,
        chosen_cell=(int(evidence.cells1[index] // cols), int(evidence.cells1[index] % cols)),
        cell_size=(width / cols, height / rows),
        peaks=peaks,
        peak_values=confidence[peaks[:, 0], peaks[:, 1]] if len(peaks) else np.zeros(0, np.float32),
        ambiguity=float(_ratio(second, best)[0]),
    )


def _separated_peaks(confidence: np.ndarray) -> np.ndarray:
    """(P, 2) local maxima at least LISTED_PEAK_FRACTION of the best, strongest first, each farther than
    PEAK_SEPARATION_CELLS from every stronger one kept."""
    maxima = np.argwhere(_local_maxima(confidence[None])[0])
    if len(maxima) == 0:
        return np.zeros((0, 2), np.int64)
    values = confidence[maxima[:, 0], maxima[:, 1]]
    order = np.argsort(-values, kind="stable")
    maxima, values = maxima[order], values[order]
    kept: list[np.ndarray] = []
    for cell, value in zip(maxima, values):
        if value < LISTED_PEAK_FRACTION * values[0]:
            break
        if all(np.abs(cell - other).max() > PEAK_SEPARATION_CELLS for other in kept):
            kept.append(cell)
    return np.array(kept, np.int64).reshape(-1, 2)


def ambiguity_scores(result: MatchResult, chunk: int = 128) -> np.ndarray:
    """(N,) float32 ambiguity of every match (second-best separated peak / best, see AmbiguityMap).

    Raises NoCoarseEvidence when the result has no coarse features.
    """
    evidence = evidence_of(result)
    rows, cols = evidence.grid1
    scores = np.zeros(len(result), np.float32)
    for start in range(0, len(result), chunk):
        indices = np.arange(start, min(start + chunk, len(result)))
        maps = confidence_rows(evidence, indices).reshape(-1, rows, cols)
        best, second = _second_peaks(maps)
        scores[indices] = _ratio(second, best)
    return scores
