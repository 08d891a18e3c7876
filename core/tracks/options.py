"""The settings of a track build, each default written once here (the command line and the window read them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackOptions:
    # Two keypoints of one image in one track further apart than this are two different points: a conflict.
    # Closer ones are one point stored twice (SIFT's second orientation, neighbouring cells of a semi-dense merge).
    conflict_px: float = 2.0
    # Radii for counting keypoints of one image that lie close to another of its keypoints without being one node:
    # what a coarser merge of semi-dense keypoints would have joined.
    near_px: tuple[float, ...] = (1.0, 2.0)
    # A model's 2D point stands for a keypoint of the run when they are this close (runs without shared keypoint ids,
    # or a model whose images hold other keypoints than the run's).
    model_match_px: float = 0.5
