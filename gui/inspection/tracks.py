"""The track view's state, Qt-free: the one owner of the track build shown for the browsed run, how its keypoints are
coloured, which image is shown and which track is singled out.

A build carries the inputs it was made from (`TrackInputs`: the run's file, the conflict tolerance, the model); it is
shown only while they equal the wanted ones (the browsed run and the current tolerance). A changed input drops the
build on screen and asks for a new one (`wanted_changed`), and `status` says what is being done meanwhile.

Events: `built_changed()`, `wanted_changed()`, `status_changed(text)`, `colour_changed(mode)`, `step_changed(order)`,
`image_changed(index)`, `track_changed(index)` (-1: none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from psygnal import Signal

from core.tracks.build import RunTracks
from core.tracks.options import TrackOptions

ColourBy = Literal["length", "triangulated"]
StepBy = Literal["length", "conflict"]
PICK_RADIUS_PX = 6.0  # a click this close to a keypoint picks its track


@dataclass(frozen=True)
class TrackInputs:
    run: Path  # the run's file or folder
    image_dir: Path | None
    model: Path | None  # a COLMAP model beside the run, if any
    conflict_px: float


class TrackState:
    built_changed = Signal()
    wanted_changed = Signal()
    status_changed = Signal(str)
    colour_changed = Signal(str)
    step_changed = Signal(str)
    image_changed = Signal(int)
    track_changed = Signal(int)

    def __init__(self) -> None:
        self.conflict_px = TrackOptions().conflict_px
        self.wanted: TrackInputs | None = None  # what a build must have been made from to be shown
        self.built: RunTracks | None = None
        self.built_from: TrackInputs | None = None
        self.status = ""
        self.colour_by: ColourBy = "length"
        self.step_by: StepBy = "length"
        self.image = -1
        self.track = -1

    # inputs and builds
    def want(self, inputs: TrackInputs | None) -> None:
        """The inputs of the browsed run (None: no run); a build made from others is dropped."""
        if inputs == self.wanted:
            return
        self.wanted = inputs
        if self.built is not None and self.built_from != inputs:
            self._set_built(None, None)
        self.set_status("" if inputs is None else "building tracks…")
        self.wanted_changed.emit()

    def set_conflict_px(self, value: float) -> None:
        if value == self.conflict_px:
            return
        self.conflict_px = value
        if self.wanted is not None:
            wanted = self.wanted
            self.want(TrackInputs(wanted.run, wanted.image_dir, wanted.model, value))

    def offer(self, built: RunTracks, inputs: TrackInputs, notes: tuple[str, ...] = ()) -> bool:
        """A finished build: shown only when made from the wanted inputs (a stale one is dropped); `notes` for the
        user go with its status."""
        if inputs != self.wanted:
            return False
        self._set_built(built, inputs)
        tracks = built.tracks
        self.set_status(
            f"{len(tracks):,} tracks from {len(tracks.graph.pair):,} "
            f"{'verified' if tracks.graph.verified else 'raw'} matches, "
            f"{int(np.count_nonzero(built.conflicts.track)):,} conflicting (built in {built.seconds:.2f} s)"
            + "".join(f"; {note}" for note in notes)
        )
        return True

    def _set_built(self, built: RunTracks | None, inputs: TrackInputs | None) -> None:
        self.built, self.built_from = built, inputs
        self.track = -1
        if built is None:
            self.image = -1
        elif not 0 <= self.image < len(built.tracks.image_start) - 1:
            self.image = 0
        self.built_changed.emit()
        self.track_changed.emit(-1)

    def set_status(self, text: str) -> None:
        if text != self.status:
            self.status = text
            self.status_changed.emit(text)

    # what is shown
    def set_colour_by(self, mode: ColourBy) -> None:
        if mode != self.colour_by:
            self.colour_by = mode
            self.colour_changed.emit(mode)

    def set_step_by(self, order: StepBy) -> None:
        if order != self.step_by:
            self.step_by = order
            self.step_changed.emit(order)

    def show_image(self, image: int) -> None:
        if image != self.image:
            self.image = image
            self.image_changed.emit(image)

    def select_track(self, track: int) -> None:
        if self.built is None or not -1 <= track < len(self.built.tracks):
            return
        if track != self.track:
            self.track = track
            self.track_changed.emit(track)

    # finding tracks
    def order(self) -> np.ndarray:
        """Tracks in stepping order: longest first, or most conflicting images first (then longest)."""
        if self.built is None:
            return np.zeros(0, np.int64)
        # both orders come with the build: no sort of every track on the event loop
        return self.built.tracks.longest_first if self.step_by == "length" else self.built.conflicts.worst

    def step(self, direction: int) -> None:
        """The next (+1) or previous (-1) track in the stepping order, and the image of its first keypoint."""
        order = self.order()
        if not len(order) or self.built is None:
            return
        here = np.flatnonzero(order == self.track)
        position = (int(here[0]) + direction) % len(order) if len(here) else (0 if direction > 0 else len(order) - 1)
        track = int(order[position])
        self.select_track(track)
        self.show_image(int(self.built.tracks.graph.image[self.built.tracks.nodes(track)[0]]))

    def track_near(self, image: int, xy: tuple[float, float], radius: float = PICK_RADIUS_PX) -> int:
        """The track of image `image`'s keypoint nearest to xy within `radius` px, else -1."""
        if self.built is None:
            return -1
        tracks = self.built.tracks
        nodes = tracks.nodes_in_image(image)
        if not len(nodes):
            return -1
        distance = np.hypot(*(tracks.graph.xy[nodes] - np.asarray(xy, np.float32)).T)
        nearest = int(np.argmin(distance))
        return int(tracks.track[nodes[nearest]]) if distance[nearest] <= radius else -1
