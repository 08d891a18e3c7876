"""The nodes and edges of a run's correspondence graph: one node per (image, keypoint), one edge per match.

How a node is identified depends on the run:
- COLMAP databases and hloc files share keypoints between the pairs of an image: a node is (image, the run's keypoint
  id), exactly as COLMAP's correspondence graph. Only keypoints with at least one match become nodes.
- Runs whose pairs carry their own float coordinates (the per-pair files of `match-inspector batch`, e.g. from the
  semi-dense EfficientLoFTR) are merged per image on hloc's grid (core.formats.hloc.grid_cells: cells of 1 px,
  `round(x + 0.5)`): keypoints of one image that fall in the same cell, from any pair, are one node, placed at its
  best-scoring member. Keypoints 1-2 px apart in neighbouring cells stay two nodes; core.tracks.conflicts counts them.

Edges are the verified matches where the run has verification (COLMAP's two_view_geometries, inlier flags in every
batch file), else the raw matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.errors import MatchCancelled
from core.formats.hloc import CELL_PX, grid_cells
from core.runs.base import KeypointMatches, MatchingRun, Progress

IDS = "the run's keypoint ids"
MERGED = f"keypoints merged per image on hloc's {CELL_PX:g}-px grid"


@dataclass(frozen=True, eq=False)
class Correspondences:
    image: np.ndarray  # (N,) int32: image of each node (index into the run's images)
    keypoint: np.ndarray  # (N,) int32: the run's keypoint id, or the merged keypoint's id within its image
    xy: np.ndarray  # (N, 2) float32: position, our pixel convention
    pair: np.ndarray  # (M,) int32: row in the run's pairs of each match
    node0: np.ndarray  # (M,) int32: node of the match in the pair's image0
    node1: np.ndarray  # (M,) int32
    score: np.ndarray  # (M,) float32
    verified: bool  # edges are verified matches (else raw)
    identity: str  # how nodes are identified, in words (IDS or MERGED)

    @property
    def node_count(self) -> int:
        return len(self.image)


def from_keypoint_matches(run: MatchingRun, matches: KeypointMatches) -> Correspondences:
    """Nodes for the keypoints that have a match, numbered image by image in keypoint order."""
    counts = np.array([len(k) for k in matches.keypoints], np.int64)
    offset = np.concatenate([[0], np.cumsum(counts)])
    global0 = offset[run.pairs.image0[matches.pair]] + matches.keypoint0
    global1 = offset[run.pairs.image1[matches.pair]] + matches.keypoint1
    used = np.zeros(int(offset[-1]), bool)
    used[global0] = True
    used[global1] = True
    node_of = np.cumsum(used, dtype=np.int64) - 1  # compact numbering of the used keypoints
    chosen = np.flatnonzero(used)
    image = (np.searchsorted(offset, chosen, side="right") - 1).astype(np.int32)
    keypoint = (chosen - offset[image]).astype(np.int32)
    all_xy = np.concatenate(matches.keypoints) if len(matches.keypoints) else np.zeros((0, 2), np.float32)
    return Correspondences(
        image,
        keypoint,
        np.ascontiguousarray(all_xy[chosen], np.float32),
        matches.pair.astype(np.int32),
        node_of[global0].astype(np.int32),
        node_of[global1].astype(np.int32),
        matches.scores.astype(np.float32),
        matches.verified,
        IDS,
    )


def from_pair_coordinates(
    run: MatchingRun, progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False
) -> Correspondences:
    """Read every pair and merge each image's keypoints on hloc's grid (see the module's docstring)."""
    total = len(run.pairs)
    stored = []
    for index in range(total):
        if cancelled():
            raise MatchCancelled()
        progress(index, total)
        stored.append(run.read_pair(index))
    progress(total, total)
    verified = total > 0 and all(pair.inliers is not None for pair in stored)
    images, points, scores, pairs = [], [], [], []
    for pair in stored:
        keep = pair.inliers if verified and pair.inliers is not None else np.ones(len(pair.result), bool)
        result = pair.result
        for side, kpts in ((0, result.kpts0), (1, result.kpts1)):
            image = run.pairs.image0[pair.index] if side == 0 else run.pairs.image1[pair.index]
            images.append(np.full(int(keep.sum()), image, np.int64))
            points.append(kpts[keep])
        scores.append(result.scores[keep])
        pairs.append(np.full(int(keep.sum()), pair.index, np.int32))
    if not stored:
        empty = np.zeros(0, np.int32)
        return Correspondences(empty, empty, np.zeros((0, 2), np.float32), empty, empty, empty, empty, False, MERGED)
    # images / points alternate side 0, side 1 per pair: every match contributes one point to each list
    image = np.concatenate(images)
    xy = np.concatenate(points).astype(np.float32)
    score = np.concatenate(scores).astype(np.float32)
    cells = grid_cells(xy)
    cells -= cells.min(initial=0)  # a keypoint left of or above the image would give a negative cell
    span = int(cells.max(initial=0)) + 1
    key = (image * span + cells[:, 1]) * span + cells[:, 0]
    unique_keys, node = np.unique(key, return_inverse=True)
    node = node.astype(np.int32)
    # each node sits at its best-scoring member (as core.formats.hloc.merge_keypoints places merged keypoints)
    per_point_score = np.concatenate([np.concatenate([s, s]) for s in scores])  # the points' layout, pair by pair
    order = np.lexsort((-per_point_score, node))
    first = np.ones(len(order), bool)
    first[1:] = node[order[1:]] != node[order[:-1]]
    best = order[first]
    node_image = (unique_keys // (span * span)).astype(np.int32)
    keypoint = _rank_within(node_image)
    node0, node1 = _sides(node, pairs)
    return Correspondences(node_image, keypoint, xy[best], np.concatenate(pairs), node0, node1, score, verified, MERGED)


def _sides(node: np.ndarray, pairs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The nodes of side 0 and side 1 of every match, from the per-point node list laid out pair by pair as
    [side-0 points of the pair, side-1 points of the pair]."""
    side0, side1, start = [], [], 0
    for rows in pairs:
        count = len(rows)
        side0.append(node[start : start + count])
        side1.append(node[start + count : start + 2 * count])
        start += 2 * count
    return np.concatenate(side0), np.concatenate(side1)


def _rank_within(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a sorted array."""
    if len(sorted_groups) == 0:
        return sorted_groups.astype(np.int32)
    starts = np.flatnonzero(np.concatenate([[True], sorted_groups[1:] != sorted_groups[:-1]]))
    counts = np.diff(np.concatenate([starts, [len(sorted_groups)]]))
    return (np.arange(len(sorted_groups)) - np.repeat(starts, counts)).astype(np.int32)


def correspondences(
    run: MatchingRun, progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False
) -> Correspondences:
    """The run's correspondence graph (see the module's docstring). Raises RunOpenError or MatchCancelled."""
    matches = run.keypoint_matches(progress, cancelled)
    if matches is None:
        return from_pair_coordinates(run, progress, cancelled)
    return from_keypoint_matches(run, matches)
