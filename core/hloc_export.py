"""hloc's dense-matcher layout: features.h5 (per-image keypoints) and matches.h5 (per-pair matches).

As hloc's `match_dense` does, the semi-dense keypoints of every pair are merged per image: keypoints of one image
that fall in the same 1-pixel cell become one keypoint, so tracks can form across pairs. Each pair's group in
matches.h5 (named by hloc's `names_to_pair`, "name0/name1" with "/" in names replaced by "-") holds `matches0`
(index into image 1's keypoints, -1 for none) and `matching_scores0`, plus the raw `keypoints0`, `keypoints1` and
`scores` of that pair. Keypoints use hloc's convention: pixel centres at integers, like ours.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .io import write_atomically

CELL_PX = 1.0


def names_to_pair(name0: str, name1: str) -> str:
    return "/".join((name0.replace("/", "-"), name1.replace("/", "-")))


class KeypointPool:
    """Per-image keypoints merged on a grid of CELL_PX; the first keypoint seen in a cell is kept."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []
        self.cells: dict[tuple[int, int], int] = {}

    def assign(self, keypoints: np.ndarray) -> np.ndarray:
        ids = np.empty(len(keypoints), np.int64)
        for row, (x, y) in enumerate(np.asarray(keypoints, np.float64)):
            cell = (int(np.floor(x / CELL_PX + 0.5)), int(np.floor(y / CELL_PX + 0.5)))
            index = self.cells.get(cell)
            if index is None:
                index = len(self.points)
                self.cells[cell] = index
                self.points.append((float(x), float(y)))
            ids[row] = index
        return ids


def merge_keypoints(
    pairs: Iterable[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[dict[str, KeypointPool], list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """Per-image keypoint pools, and per pair (name0, name1, ids0, ids1, kpts0, kpts1, scores)."""
    pools: dict[str, KeypointPool] = {}
    per_pair = []
    for name0, name1, kpts0, kpts1, scores in pairs:
        ids0 = pools.setdefault(name0, KeypointPool()).assign(kpts0)
        ids1 = pools.setdefault(name1, KeypointPool()).assign(kpts1)
        per_pair.append((name0, name1, ids0, ids1, kpts0, kpts1, scores))
    return pools, per_pair


def write_hloc(
    pairs: Iterable[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]],
    features_path: str | Path,
    matches_path: str | Path,
    image_sizes: dict[str, tuple[int, int]] | None = None,
) -> None:
    """pairs: (name0, name1, kpts0, kpts1, scores) with float keypoints in original pixels."""
    import h5py

    pools, per_pair = merge_keypoints(pairs)

    def features(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            for name, pool in pools.items():
                group = handle.create_group(name)
                group.create_dataset("keypoints", data=np.asarray(pool.points, np.float32).reshape(-1, 2))
                if image_sizes and name in image_sizes:
                    h, w = image_sizes[name]
                    group.create_dataset("image_size", data=np.array([w, h], np.int64))

    def matches(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            for name0, name1, ids0, ids1, kpts0, kpts1, scores in per_pair:
                matches0 = np.full(len(pools[name0].points), -1, np.int32)
                scores0 = np.zeros(len(pools[name0].points), np.float32)
                for i0, i1, score in zip(ids0, ids1, scores):
                    if score > scores0[i0] or matches0[i0] < 0:  # two matches on one merged keypoint: keep the best
                        matches0[i0], scores0[i0] = i1, score
                group = handle.create_group(names_to_pair(name0, name1))
                group.create_dataset("matches0", data=matches0)
                group.create_dataset("matching_scores0", data=scores0)
                group.create_dataset("keypoints0", data=np.asarray(kpts0, np.float32))
                group.create_dataset("keypoints1", data=np.asarray(kpts1, np.float32))
                group.create_dataset("scores", data=np.asarray(scores, np.float32))

    write_atomically(features_path, features)
    write_atomically(matches_path, matches)
