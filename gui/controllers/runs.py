"""Running the matcher: one request at a time on the worker, progress in the status bar, stale results dropped.

Cancel says "cancelling…" at once and disables itself; the run stops within half a second (between the model's
blocks, or by ending the matcher process: see gui.match_process), then the status says it was cancelled."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from core.types import MatchOptions, MatchResult

from ..inspection import InspectionModel
from ..worker import MatchFunction, MatchWorker
from .backend_preparation import BackendPreparation
from .feedback import Feedback


class RunController(QObject):
    progressChanged = Signal(int, str)  # percent (-1: no run), stage
    weightsMissing = Signal(str)  # message: the window offers the SIFT baseline

    def __init__(self, model: InspectionModel, feedback: Feedback, match_function: MatchFunction | None) -> None:
        super().__init__()
        self.model = model
        self.feedback = feedback
        self.real_matcher = match_function is None  # core.matchers.eloftr in the child process (not a stand-in)
        self.worker = MatchWorker(match_function)
        self.preparation = BackendPreparation(feedback)
        self.request_id = 0
        self.pending: tuple[int, int, MatchOptions] | None = None  # request id, pair version, options awaited
        self.cancelling = False  # the pending run was asked to stop and has not stopped yet
        self.percent = 0  # of the pending run
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        model.pair_changed.connect(self._pair_changed)
        model.match_options_changed.connect(self._options_changed)

    def run(self) -> None:
        model = self.model
        if not model.has_pair:
            self.feedback.error("Load two images first (drop them here or File ▸ Open pair…).")
            return
        self.request_id = self.worker.new_request_id()
        options = model.match_options
        self.pending = (self.request_id, model.pair_version, options)
        self.cancelling, self.percent = False, 0
        model.set_busy(True)
        self.progressChanged.emit(0, "matching")
        image0, image1 = model.images
        self.worker.submit(self.request_id, image0, image1, options)

    def cancel(self) -> None:
        """Ask the run to stop and say so at once; it is over when the worker reports it cancelled."""
        if self.pending is None or self.cancelling:
            return
        self.cancelling = True
        self.worker.cancel()
        self.model.set_busy(False)  # nothing left for Cancel to stop
        self.progressChanged.emit(self.percent, "cancelling")

    def _pair_changed(self) -> None:
        """Whatever runs now is for the old pair."""
        if self.pending is not None:
            self.worker.cancel()
            self._finish()

    def _options_changed(self) -> None:
        if self.pending is not None and self.pending[2] != self.model.match_options:
            self.run()  # a run with the old options is stale: restart it with the new ones

    def _is_current(self, request_id: int) -> bool:
        return self.pending is not None and self.pending[0] == request_id

    def _finish(self) -> None:
        self.pending = None
        self.cancelling = False
        self.model.set_busy(False)
        self.progressChanged.emit(-1, "")

    def _on_progress(self, request_id: int, stage: str, fraction: float) -> None:
        if self._is_current(request_id) and not self.cancelling:
            self.percent = int(fraction * 100)
            self.progressChanged.emit(self.percent, stage)

    def _on_finished(self, request_id: int, result: MatchResult) -> None:
        if not self._is_current(request_id) or self.pending is None:
            return  # stale: computed for another pair or other options
        _, pair_version, options = self.pending
        self._finish()
        if self.model.set_result(result, pair_version, options):
            notes = "; ".join(result.info.notes)
            self.feedback.status(notes or f"{len(result):,} matches", 10000)
            if self.real_matcher:
                self.preparation.result_arrived(result, options)

    def _on_failed(self, request_id: int, message: str) -> None:
        if not self._is_current(request_id):
            return
        self._finish()
        if message.startswith("No usable EfficientLoFTR weights"):
            self.weightsMissing.emit(message)
        else:
            self.feedback.error(message)

    def _on_cancelled(self, request_id: int, note: str) -> None:
        if self._is_current(request_id):
            self._finish()
            self.feedback.status(f"Matching cancelled ({note})." if note else "Matching cancelled.", 5000)

    def shutdown(self) -> None:
        self.preparation.shutdown()
        self.worker.shutdown()
