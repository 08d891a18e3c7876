"""Tracks of a whole run, built in one call: nodes and matches, union-find, conflicts, near keypoints and, with a
COLMAP model, what became of each keypoint and match. A plain function with progress and a cancel check, so the
window runs it in the background and the command line in the foreground."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import MatchCancelled
from core.runs.base import MatchingRun, Progress
from core.tracks.conflicts import Conflicts, find_conflicts, near_keypoints
from core.tracks.graph import Tracks, build
from core.tracks.nodes import from_keypoint_matches, from_pair_coordinates
from core.tracks.options import TrackOptions
from core.tracks.reconstruction import ModelPoints, Triangulation, read_model, triangulation

Stage = Callable[[str], None]  # the stage now running, in words


@dataclass(frozen=True, eq=False)
class RunTracks:
    source: Path  # the run
    options: TrackOptions
    tracks: Tracks
    conflicts: Conflicts
    near: dict[float, np.ndarray]  # radius -> (I,) keypoints with another keypoint of their image that close
    triangulation: Triangulation | None
    seconds: float  # time to build (without the model)


def build_tracks(
    run: MatchingRun,
    options: TrackOptions | None = None,
    model: Path | ModelPoints | None = None,
    progress: Progress = lambda done, total: None,
    cancelled: Callable[[], bool] = lambda: False,
    stage: Stage = lambda text: None,
) -> RunTracks:
    """`model`: a COLMAP model's folder, or the model already read (read_model). Raises RunOpenError (the run or the
    model cannot be read; the model is read first, before the long work) or MatchCancelled."""
    options = options or TrackOptions()
    if isinstance(model, Path):
        stage("reading the model")
        model = read_model(model)
    started = time.perf_counter()
    stage("reading matches")
    keypoints = run.keypoint_matches(progress, cancelled)
    if keypoints is None:
        graph = from_pair_coordinates(run, progress, cancelled)
    else:
        graph = from_keypoint_matches(run, keypoints)
    stage("joining tracks")
    if cancelled():
        raise MatchCancelled()
    tracks = build(graph, len(run.images))
    stage("finding conflicts")
    conflicts = find_conflicts(tracks, len(run.images), len(run.pairs), options.conflict_px)
    near = near_keypoints(tracks, len(run.images), options.near_px)
    seconds = time.perf_counter() - started
    found = None
    if model is not None:
        if cancelled():
            raise MatchCancelled()
        stage("placing the model's points")
        found = triangulation(run, tracks, model, keypoints, options.model_match_px)
    return RunTracks(run.source, options, tracks, conflicts, near, found, seconds)
