"""Cost of "where else could this point have matched?" per match, against computing the whole confidence matrix.

    python benchmarks/bench_ambiguity.py [--size 1024x768] [--matches 200]

The cost depends only on the shapes (coarse cells of both images, 256 channels), so the coarse features are
random with the model's shapes; the column normalisers come from the model's own coarse matching code. The
reference is what the row would cost without the kept normaliser: the whole L x S dual-softmax matrix (as the
model computes it, in place) and then the row. Goal: under 50 ms per match at 1024x768. Denormals are flushed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import machine, median_time  # also flushes float32 denormals

from core.analysis.ambiguity import ambiguity_map, ambiguity_scores
from core.model.coarse import confidence_matrix, confidence_maxima
from core.types import CoarseEvidence, MatchResult, RunInfo

CHANNELS = 256
TEMPERATURE = 0.1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1024x768")
    parser.add_argument("--matches", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    grid = (height // 8, width // 8)
    cells = grid[0] * grid[1]
    print(f"machine: {machine()}; {args.size}: {cells} coarse cells per image, {CHANNELS} channels")
    rng = np.random.default_rng(0)
    features0 = torch.from_numpy(rng.normal(size=(1, cells, CHANNELS)).astype(np.float32) * 2)
    features1 = torch.from_numpy(rng.normal(size=(1, cells, CHANNELS)).astype(np.float32) * 2)
    with torch.inference_mode():
        maxima = confidence_maxima(features0, features1, TEMPERATURE, False)
    assert maxima.col_lse is not None
    picked = rng.choice(cells, args.matches, replace=False)
    evidence = CoarseEvidence(
        features0=features0[0].numpy()[picked],
        features1=features1[0].numpy(),
        column_lse=maxima.col_lse[0].numpy(),
        cells0=picked.astype(np.int64),
        cells1=maxima.best[0].numpy()[picked].astype(np.int64),
        grid0=grid,
        grid1=grid,
        temperature=TEMPERATURE,
    )
    info = RunInfo("eloftr", "benchmark", "cpu", "fp32", ((height, width), (height, width)), 0.0)
    zeros = np.zeros((args.matches, 2), np.float32)
    result = MatchResult(
        zeros, zeros, np.ones(args.matches, np.float32), ((height, width), (height, width)), info, evidence
    )

    one = []
    for k in range(args.matches):
        started = time.perf_counter()
        ambiguity_map(result, k)
        one.append(time.perf_counter() - started)
    per_map = float(np.median(one))
    batch = median_time(lambda: ambiguity_scores(result), args.runs) / args.matches

    def whole_matrix_row() -> None:
        with torch.inference_mode():
            confidence_matrix(features0, features1, TEMPERATURE, False)[0, int(picked[0])].numpy()

    whole = median_time(whole_matrix_row, args.runs)
    print(
        f"  one match's map (ambiguity_map): median {per_map * 1e3:.1f} ms, p90 {np.percentile(one, 90) * 1e3:.1f} ms"
    )
    print(f"  ambiguity column for all matches (ambiguity_scores): {batch * 1e3:.2f} ms per match")
    print(f"  reference, whole {cells} x {cells} matrix then the row: {whole * 1e3:.0f} ms")
    print(f"  one map is {whole / per_map:.0f}x cheaper than the whole matrix; goal < 50 ms: {per_map < 0.05}")


if __name__ == "__main__":
    main()
