"""What a COLMAP sparse model made of a run's matches, read with the optional pycolmap (`pip install ".[colmap]"`).

Images are paired with the model's by name. A node is triangulated when the model's 2D point standing for it observes
a 3D point: the 2D point with the node's keypoint id where the model's image holds as many 2D points as the run's
image holds keypoints (a model mapped from this database), else the model's 2D point nearest to the node within
`model_match_px`. A match became a 3D point when both its keypoints observe the same one. An unregistered image's
2D-3D correspondences are its nodes whose track holds a triangulated keypoint: what registering it could have used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from core.runs.base import KeypointMatches, MatchingRun
from core.runs.reference_poses import read_reconstruction
from core.tracks.graph import Tracks


@dataclass(frozen=True, eq=False)
class ModelPoints:
    """A model as arrays: its registered images and every observation (image name, 2D point index, 3D point)."""

    source: Path
    registered: frozenset[str]
    points2d: dict[str, np.ndarray]  # image name -> (K, 2) float32 2D points, our pixel convention
    observation_image: np.ndarray  # (O,) str: image name of each observation
    observation_point2d: np.ndarray  # (O,) int64
    observation_point3d: np.ndarray  # (O,) int64
    point_length: dict[int, int]  # 3D point id -> track length in the model
    point_error: dict[int, float]  # 3D point id -> mean reprojection error (px)


@dataclass(frozen=True, eq=False)
class Triangulation:
    source: Path
    registered: np.ndarray  # (I,) bool
    point3d: np.ndarray  # (N,) int64: 3D point each node observes, -1 for none
    point_length: np.ndarray  # (N,) int32: that 3D point's track length in the model, 0 for none
    point_error: np.ndarray  # (N,) float32: its reprojection error (px), NaN for none
    edge: np.ndarray  # (M,) bool: the match's two keypoints observe the same 3D point
    pair: np.ndarray  # (P,) int64: matches of each pair that became 3D points
    image_points: np.ndarray  # (I,) int64: triangulated keypoints per image
    correspondences_2d3d: np.ndarray  # (I,) int64: nodes whose track holds a triangulated keypoint


def read_model(model: str | Path) -> ModelPoints:
    """Raises RunOpenError when pycolmap is missing or the folder holds no readable model."""
    reconstruction = read_reconstruction(model)
    names = {image_id: image.name for image_id, image in reconstruction.images.items()}
    registered = frozenset(image.name for image in reconstruction.images.values() if image.has_pose)
    points2d = {
        image.name: np.array([p.xy for p in image.points2D], np.float32).reshape(-1, 2) - np.float32(0.5)
        for image in reconstruction.images.values()
    }
    images, points2d_index, points3d = [], [], []
    lengths, errors = {}, {}
    for point_id, point in reconstruction.points3D.items():
        elements = point.track.elements
        lengths[int(point_id)] = len(elements)
        errors[int(point_id)] = float(point.error)
        for element in elements:
            images.append(names[element.image_id])
            points2d_index.append(element.point2D_idx)
            points3d.append(point_id)
    return ModelPoints(
        Path(model),
        registered,
        points2d,
        np.array(images, dtype=str),
        np.array(points2d_index, np.int64),
        np.array(points3d, np.int64),
        lengths,
        errors,
    )


def triangulation(
    run: MatchingRun, tracks: Tracks, model: ModelPoints, keypoints: KeypointMatches | None, match_px: float
) -> Triangulation:
    """`keypoints`: the run's keypoints where it has ids (their count tells whether the model's 2D points are them)."""
    graph = tracks.graph
    image_count, pair_count = len(run.images), len(run.pairs)
    registered = np.array([image.name in model.registered for image in run.images], bool)
    point3d = np.full(graph.node_count, -1, np.int64)
    by_image = np.argsort(graph.image, kind="stable")
    starts = np.searchsorted(graph.image[by_image], np.arange(image_count + 1))
    index_of = {image.name: index for index, image in enumerate(run.images)}
    names, inverse = np.unique(model.observation_image, return_inverse=True)
    observation_image = np.array([index_of.get(str(name), -1) for name in names], np.int64)[inverse]
    by_observation = np.argsort(observation_image, kind="stable")
    observation_starts = np.searchsorted(observation_image[by_observation], np.arange(image_count + 1))
    for index, image in enumerate(run.images):
        stored = model.points2d.get(image.name)
        nodes = by_image[starts[index] : starts[index + 1]]
        if stored is None or not len(nodes):
            continue
        observed = np.full(len(stored), -1, np.int64)
        rows = by_observation[observation_starts[index] : observation_starts[index + 1]]
        observed[model.observation_point2d[rows]] = model.observation_point3d[rows]
        same_keypoints = keypoints is not None and len(keypoints.keypoints[index]) == len(stored)
        if same_keypoints:
            point3d[nodes] = observed[graph.keypoint[nodes]]
        elif len(stored):
            distance, nearest = cKDTree(stored).query(graph.xy[nodes], distance_upper_bound=match_px)
            found = np.isfinite(distance)
            point3d[nodes[found]] = observed[nearest[found]]
    has_point = point3d >= 0
    lengths = np.zeros(graph.node_count, np.int32)
    errors = np.full(graph.node_count, np.nan, np.float32)
    if has_point.any():
        lengths[has_point] = [model.point_length[int(p)] for p in point3d[has_point]]
        errors[has_point] = [model.point_error[int(p)] for p in point3d[has_point]]
    edge = (point3d[graph.node0] >= 0) & (point3d[graph.node0] == point3d[graph.node1])
    track_has_point = np.bincount(tracks.track[has_point], minlength=len(tracks)) > 0
    reachable = track_has_point[tracks.track]
    return Triangulation(
        model.source,
        registered,
        point3d,
        lengths,
        errors,
        edge,
        np.bincount(graph.pair[edge], minlength=pair_count),
        np.bincount(graph.image[has_point], minlength=image_count),
        np.bincount(graph.image[reachable], minlength=image_count),
    )


def nodes_at(tracks: Tracks, image: int, xy: np.ndarray, tolerance_px: float) -> np.ndarray:
    """For each point of image `image`, the node at it (within `tolerance_px`), else -1."""
    nodes = tracks.nodes_in_image(image)
    found = np.full(len(xy), -1, np.int64)
    if len(nodes) and len(xy):
        distance, nearest = cKDTree(tracks.graph.xy[nodes]).query(xy, distance_upper_bound=tolerance_px)
        hit = np.isfinite(distance)
        found[hit] = nodes[nearest[hit]]
    return found


def matches_triangulated(
    tracks: Tracks, found: Triangulation, images: tuple[int, int], kpts0: np.ndarray, kpts1: np.ndarray, px: float
) -> np.ndarray:
    """Per match of a pair (keypoints in the run's frame): both keypoints observe the same 3D point of the model."""
    point0 = _points_of(found, nodes_at(tracks, images[0], kpts0, px))
    point1 = _points_of(found, nodes_at(tracks, images[1], kpts1, px))
    return (point0 >= 0) & (point0 == point1)


def _points_of(found: Triangulation, nodes: np.ndarray) -> np.ndarray:
    return np.where(nodes >= 0, found.point3d[np.maximum(nodes, 0)], -1)
