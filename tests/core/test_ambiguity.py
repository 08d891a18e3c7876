"""Where else could a point have matched: one confidence row from kept features, its peaks and the ambiguity."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.analysis.ambiguity import NoCoarseEvidence, ambiguity_map, ambiguity_scores, confidence_rows
from core.analysis.synthetic import textured_scene
from core.matchers.match import match_pair
from core.model.coarse import confidence_matrix, confidence_maxima
from core.types import CoarseEvidence, MatchOptions, MatchResult, RunInfo

GRID = (12, 16)
TEMPERATURE = 0.1


def _evidence(features0: np.ndarray, features1: np.ndarray, cells1: np.ndarray) -> CoarseEvidence:
    f0, f1 = torch.from_numpy(features0)[None], torch.from_numpy(features1)[None]
    maxima = confidence_maxima(f0.clone(), f1.clone(), TEMPERATURE, False)
    assert maxima.col_lse is not None
    return CoarseEvidence(
        features0=features0,
        features1=features1,
        column_lse=maxima.col_lse[0].numpy(),
        cells0=np.arange(len(features0)),
        cells1=cells1,
        grid0=(1, len(features0)),
        grid1=GRID,
        temperature=TEMPERATURE,
    )


def _result(evidence: CoarseEvidence) -> MatchResult:
    n = len(evidence.cells0)
    info = RunInfo("eloftr", "test", "cpu", "fp32", ((96, 128), (96, 128)), 0.0)
    return MatchResult(
        np.zeros((n, 2), np.float32),
        np.zeros((n, 2), np.float32),
        np.ones(n, np.float32),
        ((96, 128), (96, 128)),
        info,
        evidence,
    )


def test_one_row_equals_the_row_of_the_whole_matrix():
    rng = np.random.default_rng(0)
    features0 = rng.normal(size=(40, 32)).astype(np.float32) * 3
    features1 = rng.normal(size=(GRID[0] * GRID[1], 32)).astype(np.float32) * 3
    evidence = _evidence(features0, features1, np.zeros(40, np.int64))
    whole = confidence_matrix(torch.from_numpy(features0)[None], torch.from_numpy(features1)[None], TEMPERATURE, False)
    rows = confidence_rows(evidence, np.array([0, 7, 39]))
    np.testing.assert_allclose(rows, whole[0, [0, 7, 39]].numpy(), rtol=1e-4, atol=1e-7)


def _repeated_and_unique(period: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Image-1 features that repeat every `period` cells in both directions, and features unique to each cell."""
    rng = np.random.default_rng(1)
    tile = rng.normal(size=(period, period, 32)).astype(np.float32) * 2
    rows, cols = GRID
    repeated = np.tile(tile, (rows // period, cols // period, 1)).reshape(rows * cols, 32)
    unique = rng.normal(size=(rows * cols, 32)).astype(np.float32) * 2
    return repeated, unique


def test_repeated_pattern_has_several_peaks_and_unique_texture_one():
    repeated, unique = _repeated_and_unique()
    query = 1.5 * repeated[[5 * GRID[1] + 6]]  # the feature of cell (5, 6), which repeats every 4 cells
    ambiguous = ambiguity_map(_result(_evidence(query, repeated, np.array([5 * GRID[1] + 6]))), 0)
    assert len(ambiguous.peaks) == (GRID[0] // 4) * (GRID[1] // 4)
    assert ambiguous.ambiguity > 0.9 and ambiguous.peak_ratio < 1.2
    assert ambiguous.confidence.shape == GRID and ambiguous.cell_size == (128 / 16, 96 / 12)

    query = 1.5 * unique[[5 * GRID[1] + 6]]
    clear = ambiguity_map(_result(_evidence(query, unique, np.array([5 * GRID[1] + 6]))), 0)
    assert len(clear.peaks) == 1 and tuple(clear.peaks[0]) == (5, 6) == clear.chosen_cell
    assert clear.ambiguity < 0.01 and clear.peak_ratio > 100


def test_scores_for_all_matches_agree_with_the_single_maps():
    repeated, unique = _repeated_and_unique()
    cells = np.array([5 * GRID[1] + 6, 0, 100])
    for features in (repeated, unique):
        result = _result(_evidence(1.5 * features[cells], features, cells))
        scores = ambiguity_scores(result, chunk=2)
        assert scores.dtype == np.float32 and np.all((scores >= 0) & (scores <= 1))
        np.testing.assert_allclose(scores, [ambiguity_map(result, k).ambiguity for k in range(3)], rtol=1e-5, atol=1e-9)
        subset = result.subset(np.array([False, True, True]))
        np.testing.assert_allclose(ambiguity_scores(subset), scores[1:], rtol=1e-5, atol=1e-9)


def test_results_without_features_say_so():
    info = RunInfo("sift", "-", "cpu", "fp32", ((0, 0), (0, 0)), 0.0)
    bare = MatchResult(
        np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32), np.ones(1, np.float32), ((10, 10), (10, 10)), info
    )
    with pytest.raises(NoCoarseEvidence, match="EfficientLoFTR"):
        ambiguity_map(bare, 0)
    with pytest.raises(NoCoarseEvidence):
        ambiguity_scores(bare)


def test_ambiguity_needs_neither_torch_nor_qt():
    code = "import sys, core.analysis.ambiguity; print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _periodic_image(height: int, width: int, period: int = 64) -> np.ndarray:
    """A texture tile repeated every `period` pixels: a facade of identical windows."""
    tile = textured_scene(period, period, 4)
    return np.tile(tile, (height // period + 1, width // period + 1, 1))[:height, :width]


def _strong_peaks(result: MatchResult) -> np.ndarray:
    """Per match: separated peaks of its map at least half as confident as the best one."""
    maps = (ambiguity_map(result, k) for k in range(len(result)))
    return np.array([int((m.peak_values >= 0.5 * m.peak_values[0]).sum()) for m in maps])


def test_model_run_keeps_what_the_map_needs_and_repeats_show_several_peaks(random_weights):
    options = MatchOptions(weights=random_weights, size=(256, 192), internal_threshold=0.0)
    periodic = _periodic_image(192, 256)
    repeated = match_pair(periodic, periodic, options)
    assert repeated.coarse is not None and repeated.coarse.grid1 == (24, 32)
    peaks = _strong_peaks(repeated)
    assert peaks.max() >= 3 and np.mean(peaks >= 2) > 0.15  # the same window elsewhere scores nearly as high
    assert np.percentile(ambiguity_scores(repeated), 90) > 0.5

    scene = textured_scene(192, 256, 8)
    unique = match_pair(scene, scene, options)
    assert np.all(_strong_peaks(unique) == 1)
    assert np.percentile(ambiguity_scores(unique), 90) < 0.05

    without = match_pair(scene, scene, replace(options, keep_coarse_features=False))
    assert without.coarse is None


@pytest.mark.parametrize("suffix", [".csv", ".json", ".npz"])
def test_exports_carry_the_ambiguity_column(tmp_path, suffix):
    from core.formats.match_files import build_match_file, read_matches, write_matches

    repeated, _ = _repeated_and_unique()
    cells = np.array([5 * GRID[1] + 6, 0, 100])
    result = _result(_evidence(1.5 * repeated[cells], repeated, cells))
    match_file = build_match_file(result, (None, None), threshold=0.0)
    assert match_file.ambiguity is not None
    np.testing.assert_allclose(match_file.ambiguity, ambiguity_scores(result))
    back = read_matches(write_matches(tmp_path / f"m{suffix}", match_file))
    assert back.ambiguity is not None
    np.testing.assert_array_equal(back.ambiguity, match_file.ambiguity)
    info = RunInfo("sift", "-", "cpu", "fp32", ((0, 0), (0, 0)), 0.0)
    bare = MatchResult(zeros := np.zeros((1, 2), np.float32), zeros, np.ones(1, np.float32), ((9, 9), (9, 9)), info)
    assert (
        read_matches(write_matches(tmp_path / f"b{suffix}", build_match_file(bare, (None, None), 0.0))).ambiguity
        is None
    )
