"""Tracks: the connected components of the correspondence graph (union-find over its nodes, as COLMAP's
correspondence graph builds them), with each track's nodes and matches laid out for lookup in O(track size).

A track's length is the number of images it reaches; a conflicting track (two keypoints of one image) counts that
image once, so its length is what its 3D point could be seen in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from core.tracks.nodes import Correspondences


@dataclass(frozen=True, eq=False)
class Tracks:
    graph: Correspondences
    track: np.ndarray  # (N,) int32: track of each node
    degree: np.ndarray  # (N,) int32: matches on each node
    node_order: np.ndarray  # (N,) int64: nodes sorted by (track, image, most matches first)
    node_start: np.ndarray  # (T + 1,) int64: track t's nodes are node_order[node_start[t]:node_start[t + 1]]
    edge_order: np.ndarray  # (M,) int64: matches sorted by track
    edge_start: np.ndarray  # (T + 1,) int64
    length: np.ndarray  # (T,) int32: images each track reaches
    image_order: np.ndarray  # (N,) int64: nodes sorted by image
    image_start: np.ndarray  # (I + 1,) int64: image i's nodes are image_order[image_start[i]:image_start[i + 1]]
    longest_first: np.ndarray  # (T,) int64: tracks by length, longest first

    def __len__(self) -> int:
        return len(self.length)

    def nodes(self, track: int) -> np.ndarray:
        """The nodes of one track, image by image, the most-matched keypoint of an image first."""
        return self.node_order[self.node_start[track] : self.node_start[track + 1]]

    def edges(self, track: int) -> np.ndarray:
        """The matches that link one track."""
        return self.edge_order[self.edge_start[track] : self.edge_start[track + 1]]

    def nodes_in_image(self, image: int) -> np.ndarray:
        return self.image_order[self.image_start[image] : self.image_start[image + 1]]

    def histogram(self) -> dict[int, int]:
        """Track length -> number of tracks."""
        lengths, counts = np.unique(self.length, return_counts=True)
        return {int(n): int(c) for n, c in zip(lengths, counts)}


def build(graph: Correspondences, image_count: int) -> Tracks:
    count = graph.node_count
    ones = np.ones(len(graph.node0), np.int8)
    adjacency = coo_matrix((ones, (graph.node0, graph.node1)), shape=(count, count)).tocsr()
    tracks, track = connected_components(adjacency, directed=False)
    track = track.astype(np.int32)
    degree = (np.bincount(graph.node0, minlength=count) + np.bincount(graph.node1, minlength=count)).astype(np.int32)
    node_order = _order_nodes(track, graph.image, degree)
    node_start = np.searchsorted(track[node_order], np.arange(tracks + 1))
    ordered_images = graph.image[node_order]
    ordered_tracks = track[node_order]
    new_image = np.ones(count, bool)
    new_image[1:] = (ordered_tracks[1:] != ordered_tracks[:-1]) | (ordered_images[1:] != ordered_images[:-1])
    length = np.bincount(ordered_tracks[new_image], minlength=tracks).astype(np.int32)
    edge_track = track[graph.node0]
    edge_order = np.argsort(edge_track, kind="stable")
    edge_start = np.searchsorted(edge_track[edge_order], np.arange(tracks + 1))
    image_order = np.argsort(graph.image, kind="stable")
    image_start = np.searchsorted(graph.image[image_order], np.arange(image_count + 1))
    longest_first = np.argsort(-length, kind="stable")
    return Tracks(
        graph,
        track,
        degree,
        node_order,
        node_start,
        edge_order,
        edge_start,
        length,
        image_order,
        image_start,
        longest_first,
    )


def _order_nodes(track: np.ndarray, image: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """Nodes by (track, image, most matches first): one int64 key where it fits (a third of lexsort's time)."""
    images, most = int(image.max(initial=0)) + 1, int(degree.max(initial=0)) + 1
    tracks = int(track.max(initial=0)) + 1
    if tracks * images * most >= 2**62:
        return np.lexsort((-degree, image, track))
    key = (track.astype(np.int64) * images + image) * most + (most - 1 - degree)
    return np.argsort(key, kind="stable")
