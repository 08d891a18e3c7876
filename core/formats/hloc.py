"""hloc's dense-matcher layout: features.h5 (per-image keypoints) and matches.h5 (per-pair matches).

Keypoints come in the stored pixel frame of each file (the frame hloc reads: it ignores EXIF orientation), pixel
centres at integers like hloc. A detector-based matcher's keypoints are written as detected, one list per image shared
by its pairs (hloc's extract/match layout). As hloc's `match_dense` does, the semi-dense keypoints of every pair are
merged per image on hloc's grid (cell index `round((x + 0.5) / CELL_PX)`, its `to_cpts` with cells of 1 px), so tracks
can form across pairs; a merged keypoint keeps the position of the best-scoring keypoint in its cell. Matches are then
made one-to-one the way hloc's `get_unique_matches` does: a match stays only if it has the best score of all matches
on its image-0 keypoint and of all matches on its image-1 keypoint.

Each pair's group in matches.h5 (named by hloc's `names_to_pair`, "name0/name1" with "/" in names replaced by "-")
holds `matches0` (index into image 1's keypoints, -1 for none) and `matching_scores0`, plus the raw `keypoints0`,
`keypoints1` and `scores` of that pair. features.h5 holds `keypoints` and, like hloc, `image_size` as (width, height).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.formats.files import write_atomically

CELL_PX = 1.0


def names_to_pair(name0: str, name1: str) -> str:
    return "/".join((name0.replace("/", "-"), name1.replace("/", "-")))


@dataclass(frozen=True, eq=False)
class PairMatches:
    """One pair's matches in the stored pixel frame of both files: float (x, y), pixel centres at integers."""

    name0: str
    name1: str
    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, eq=False)
class MergedPair:
    pair: PairMatches
    matches: np.ndarray  # (M, 2) one-to-one indices into the merged keypoints of name0 and name1
    scores: np.ndarray  # (M,)


def grid_cells(keypoints: np.ndarray) -> np.ndarray:
    """hloc's quantisation cell of each keypoint (integer pairs)."""
    return np.round((np.asarray(keypoints, np.float64) + 0.5) / CELL_PX).astype(np.int64)


def unique_matches(matches: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep a match only if it scores best among those sharing its image-0 index and among those sharing its image-1
    index (ties: the first)."""
    if len(matches) == 0:
        return matches.reshape(0, 2), scores[:0]
    keep = np.ones(len(matches), bool)
    for column in (0, 1):
        order = np.lexsort((-scores, matches[:, column]))  # by index, best score first within an index
        first = np.ones(len(order), bool)
        first[1:] = matches[order[1:], column] != matches[order[:-1], column]
        best = np.zeros(len(matches), bool)
        best[order[first]] = True
        keep &= best
    return matches[keep], scores[keep]


def exact_cells(keypoints: np.ndarray) -> np.ndarray:
    """Each keypoint's own position as its key: a detector's keypoints of one image are the same floats in every pair
    (one detection per image), so this rebuilds the detector's keypoint list and never merges two of them."""
    return np.ascontiguousarray(keypoints, np.float32).view(np.int32).reshape(-1, 2)


def merge_keypoints(
    pairs: Sequence[PairMatches], detector_based: bool = False
) -> tuple[dict[str, np.ndarray], list[MergedPair]]:
    """Per-image merged keypoints (name -> (K, 2) float32), and each pair's one-to-one matches into them. Semi-dense
    keypoints are merged on hloc's grid; a detector's (`detector_based`) are kept as detected, one list per image."""
    key_of = exact_cells if detector_based else grid_cells
    cells_of: dict[str, dict[tuple[int, int], int]] = {}
    best: dict[str, list[tuple[float, float, float]]] = {}  # per merged keypoint: (score, x, y) of its best member
    ids_per_pair = []
    for pair in pairs:
        ids = []
        for name, points in ((pair.name0, pair.kpts0), (pair.name1, pair.kpts1)):
            cells = cells_of.setdefault(name, {})
            members = best.setdefault(name, [])
            image_ids = np.empty(len(points), np.int64)
            for row, (cell, point, score) in enumerate(zip(key_of(points), points, pair.scores)):
                key = (int(cell[0]), int(cell[1]))
                index = cells.get(key)
                if index is None:
                    index = cells[key] = len(members)
                    members.append((float(score), float(point[0]), float(point[1])))
                elif score > members[index][0]:
                    members[index] = (float(score), float(point[0]), float(point[1]))
                image_ids[row] = index
            ids.append(image_ids)
        ids_per_pair.append(ids)
    merged_points = {name: np.array([m[1:] for m in kept], np.float32).reshape(-1, 2) for name, kept in best.items()}
    merged = []
    for pair, (ids0, ids1) in zip(pairs, ids_per_pair):
        matches, scores = unique_matches(np.stack([ids0, ids1], 1), np.asarray(pair.scores, np.float32))
        merged.append(MergedPair(pair, matches, scores))
    return merged_points, merged


def write_hloc(
    pairs: Sequence[PairMatches],
    features_path: str | Path,
    matches_path: str | Path,
    image_sizes: dict[str, tuple[int, int]],
    detector_based: bool = False,
) -> None:
    """image_sizes: name -> (height, width) of the stored pixels; detector_based: see merge_keypoints. Raises
    OSError."""
    import h5py

    keypoints, merged = merge_keypoints(pairs, detector_based)

    def features(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            for name, points in keypoints.items():
                group = handle.create_group(name)
                group.create_dataset("keypoints", data=points)
                height, width = image_sizes[name]
                size = group.create_dataset("image_size", data=np.array([width, height], np.int64))
                size.attrs["order"] = "width, height (hloc's convention)"

    def matches(tmp: Path) -> None:
        with h5py.File(tmp, "w") as handle:
            for item in merged:
                pair = item.pair
                matches0 = np.full(len(keypoints[pair.name0]), -1, np.int32)
                scores0 = np.zeros(len(keypoints[pair.name0]), np.float32)
                matches0[item.matches[:, 0]] = item.matches[:, 1]
                scores0[item.matches[:, 0]] = item.scores
                group = handle.create_group(names_to_pair(pair.name0, pair.name1))
                group.create_dataset("matches0", data=matches0)
                group.create_dataset("matching_scores0", data=scores0)
                group.create_dataset("keypoints0", data=np.asarray(pair.kpts0, np.float32))
                group.create_dataset("keypoints1", data=np.asarray(pair.kpts1, np.float32))
                group.create_dataset("scores", data=np.asarray(pair.scores, np.float32))

    write_atomically(features_path, features)
    write_atomically(matches_path, matches)
