"""The tracks of the browsed run in the window: a dock with gui.views.track_view, the build in the background (a child
process, gui.track_process), and a click on a match in the inspector showing that match's track.

Follows the browsing context: a run opened asks the TrackState for a build of it (with the COLMAP model beside it,
if any); a run closed cancels the build. A changed conflict tolerance asks for a new build the same way.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow

from core.runs.base import MatchingRun
from core.runs.reference_poses import find_model_beside
from core.tracks.build import RunTracks
from core.tracks.reconstruction import matches_triangulated

from ..inspection import BrowsingContext, InspectionModel
from ..inspection.tracks import TrackInputs, TrackState
from ..jobs import LatestJobRunner
from ..track_process import TrackBuilder
from ..views.track_view import TrackView
from .feedback import Feedback

MATCH_TO_KEYPOINT_PX = 1.0  # a match of the inspector stands on a track keypoint this close (same file: exact)


class TrackDocks(QObject):
    stageReached = Signal(object, str)  # (inputs, stage) from the build's thread

    def __init__(
        self,
        window: QMainWindow,
        browsing: BrowsingContext,
        state: TrackState,
        model: InspectionModel,
        feedback: Feedback,
        shown_pair: object,
        beside: QDockWidget | None = None,
    ) -> None:
        """`shown_pair`: a callable giving the run's pair index whose matches the inspector shows, or None."""
        super().__init__()
        self.window = window
        self.browsing = browsing
        self.state = state
        self.model = model
        self.feedback = feedback
        self.shown_pair = shown_pair
        self.builder = TrackBuilder()
        self.view = TrackView(state)
        self.dock = QDockWidget("Tracks of the run", window)
        self.dock.setObjectName("Tracks of the run")
        self.dock.setWidget(self.view)
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.dock)
        if beside is not None:
            window.tabifyDockWidget(beside, self.dock)
        self.dock.hide()
        self.runner = LatestJobRunner("track-build")
        self.runner.finished.connect(self._built)
        self.runner.failed.connect(self._failed)
        self.stageReached.connect(self._stage)
        browsing.events.run.connect(self._run_changed)
        state.wanted_changed.connect(self._build_wanted)
        model.selection_changed.connect(self._match_selected)
        # after the pair's result is in place (the browser records which pair it is once set_result returns)
        model.result_changed.connect(lambda: QTimer.singleShot(0, self._colour_matches))
        state.built_changed.connect(self._colour_matches)

    def _run_changed(self, run: MatchingRun | None) -> None:
        self.view.set_run(run)
        if run is None:
            self.builder.cancel()
            self.runner.cancel()
            self.state.want(None)
            self.dock.hide()
            return
        model = find_model_beside(Path(run.source))
        self.state.want(TrackInputs(Path(run.source), run.image_dir, model, self.state.conflict_px))
        self.dock.show()

    def _build_wanted(self) -> None:
        inputs = self.state.wanted
        if inputs is None or inputs == self.state.built_from:
            return
        self.builder.cancel()  # the running build is for other inputs
        self.runner.submit(self._build, inputs)

    def _build(self, inputs: TrackInputs) -> tuple[TrackInputs, RunTracks, list[str]]:
        notes: list[str] = []
        built = self.builder.build(inputs, lambda stage: self.stageReached.emit(inputs, stage), notes.append)
        return inputs, built, notes

    def _stage(self, inputs: TrackInputs, stage: str) -> None:
        if inputs == self.state.wanted and self.state.built_from != inputs:
            self.state.set_status(f"building tracks: {stage}…")

    def _built(self, job: int, value: tuple[TrackInputs, RunTracks, list[str]]) -> None:
        if self.runner.superseded(job):
            return
        inputs, built, notes = value
        self.state.offer(built, inputs, tuple(notes))

    def _failed(self, job: int, message: str) -> None:
        if not self.runner.superseded(job):
            self.state.set_status(f"no tracks: {message}")

    def _match_selected(self, index: int) -> None:
        """A match clicked in the inspector: its track, shown from its first image."""
        built, run = self.state.built, self.browsing.run
        pair = self.shown_pair() if callable(self.shown_pair) else None
        result = self.model.result
        if index < 0 or built is None or run is None or pair is None or result is None or index >= len(result):
            return
        image0 = int(run.pairs.image0[pair])
        track = self.state.track_near(image0, tuple(result.kpts0[index]), MATCH_TO_KEYPOINT_PX)
        if track >= 0:
            self.state.show_image(image0)
            self.state.select_track(track)

    def _colour_matches(self) -> None:
        """What the model made of each match on screen (colour mode "model"), for the result it was computed on."""
        built, run, result = self.state.built, self.browsing.run, self.model.result
        pair = self.shown_pair() if callable(self.shown_pair) else None
        if built is None or built.triangulation is None or run is None or pair is None or result is None:
            if self.model.model_points is not None:
                self.model.set_model_points(self.model.result_id, None)
            return
        images = (int(run.pairs.image0[pair]), int(run.pairs.image1[pair]))
        flags = matches_triangulated(
            built.tracks, built.triangulation, images, result.kpts0, result.kpts1, MATCH_TO_KEYPOINT_PX
        )
        self.model.set_model_points(self.model.result_id, flags)

    def shutdown(self) -> None:
        self.builder.cancel()
        self.runner.cancel()
        self.runner.shutdown()
        self.view.shutdown()
