"""Conflicts: a track holding two keypoints of one image more than `conflict_px` apart (one 3D point cannot be seen
at two places of one image), and keypoints of one image that lie close together without being one node.

Which keypoint is the odd one: within a track, an image's keypoint with the most matches is its main one; every other
keypoint of that image further than `conflict_px` from it is extra, and the matches on an extra keypoint are the
conflicting matches, counted against their pairs. A pair that wrongly links a point into another track is blamed;
the pairs that agree on the main keypoint are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from core.tracks.graph import Tracks


@dataclass(frozen=True, eq=False)
class Conflicts:
    tolerance_px: float
    extra: np.ndarray  # (N,) bool: a node that is not its image's main keypoint in its track, beyond the tolerance
    edge: np.ndarray  # (M,) bool: a match on an extra node
    track: np.ndarray  # (T,) int32: images in which each track holds an extra keypoint
    image: np.ndarray  # (I,) int64: conflicting tracks per image
    pair: np.ndarray  # (P,) int64: conflicting matches per pair
    worst: np.ndarray  # (C,) int64: the conflicting tracks, most conflicting images first, then longest

    def worst_tracks(self) -> np.ndarray:
        return self.worst


def find_conflicts(tracks: Tracks, image_count: int, pair_count: int, tolerance_px: float) -> Conflicts:
    graph = tracks.graph
    order = tracks.node_order
    ordered_tracks, ordered_images = tracks.track[order], graph.image[order]
    first = np.ones(len(order), bool)  # the main keypoint of each (track, image): most matches, sorted first
    first[1:] = (ordered_tracks[1:] != ordered_tracks[:-1]) | (ordered_images[1:] != ordered_images[:-1])
    main = order[first][np.cumsum(first) - 1]  # for every ordered node, its group's main node
    distance = np.linalg.norm(graph.xy[order] - graph.xy[main], axis=1)
    extra = np.zeros(graph.node_count, bool)
    extra[order] = distance > tolerance_px
    # a (track, image) group conflicts when any of its nodes is extra
    group = np.cumsum(first) - 1
    group_conflicts = np.bincount(group, weights=extra[order], minlength=int(first.sum())) > 0
    group_track, group_image = ordered_tracks[first], ordered_images[first]
    edge = extra[graph.node0] | extra[graph.node1]
    per_track = np.bincount(group_track[group_conflicts], minlength=len(tracks)).astype(np.int32)
    conflicting = np.flatnonzero(per_track)
    worst = conflicting[np.lexsort((-tracks.length[conflicting], -per_track[conflicting]))]
    return Conflicts(
        tolerance_px,
        extra,
        edge,
        per_track,
        np.bincount(group_image[group_conflicts], minlength=image_count),
        np.bincount(graph.pair[edge], minlength=pair_count),
        worst,
    )


def near_keypoints(tracks: Tracks, image_count: int, radii: tuple[float, ...]) -> dict[float, np.ndarray]:
    """Per radius, per image: nodes with another node of the same image within that radius (any track)."""
    graph = tracks.graph
    if graph.node_count < 2 or not radii:
        return {r: np.zeros(image_count, np.int64) for r in radii}
    # one tree for all images: each image moved far from the others, so neighbours are always of the same image
    spread = float(np.abs(graph.xy).max()) * 4 + 4 * max(radii) + 1
    points = graph.xy.astype(np.float64) + np.column_stack([graph.image * spread, np.zeros(graph.node_count)])
    tree = cKDTree(points, balanced_tree=False, compact_nodes=False)  # faster to build, as fast to search here
    close = tree.query_pairs(max(radii), output_type="ndarray")
    distance = np.linalg.norm(points[close[:, 0]] - points[close[:, 1]], axis=1)
    counts = {}
    for radius in radii:
        near = np.zeros(graph.node_count, bool)
        near[close[distance <= radius].ravel()] = True
        counts[radius] = np.bincount(graph.image[near], minlength=image_count)
    return counts
