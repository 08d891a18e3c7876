"""A whole matching run in the window: the pair browser and the image x image matrix as docks, the chosen pair in
the inspector with all its tools, its stored verification as a colour mode, and our check of it (F, overlap,
relative pose) computed in the background. *Re-match this pair* runs the matcher on it: the stored matches become
run A of an A/B comparison.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.analysis.relative_pose import PoseOptions
from core.runs.base import MatchingRun, RunOpenError, StoredPair
from core.runs.open import open_run
from core.runs.quick_check import QuickCheck, check_pair, describe
from core.runs.reference_poses import ReferencePoses, find_model_beside, load_reference_poses

from ..inspection import BrowsingContext, InspectionModel
from ..jobs import LatestJobRunner
from ..pair_table import PairTable
from ..views.pair_browser import PairBrowser
from ..views.pair_matrix import PairMatrix
from ..widgets.binding import bind
from ..widgets.controls import matcher_combo
from .feedback import Feedback
from .files import FileActions


def open_with_reference(path: str, image_dir: str | None = None) -> tuple[MatchingRun, ReferencePoses | None]:
    """The run at `path` and the reference poses of a COLMAP model beside it, if any. Raises RunOpenError."""
    run = open_run(path, image_dir)
    model = find_model_beside(run.source)
    try:
        reference = load_reference_poses(model) if model is not None else None
    except RunOpenError:
        reference = None  # no pycolmap: the run opens without reference poses
    return run, reference


class MatchingRunDocks(QObject):
    """Follows the browsing context: its run's docks, table and chosen pair; the context owns the run itself."""

    rematchRequested = Signal()

    def __init__(
        self,
        window: QMainWindow,
        model: InspectionModel,
        browsing: BrowsingContext,
        files: FileActions,
        feedback: Feedback,
        beside: QDockWidget | None = None,
    ) -> None:
        """`beside`: the dock the run's docks share their place with, as tabs (the browser wants the height)."""
        super().__init__()
        self.window = window
        self.model = model
        self.browsing = browsing
        self.files = files
        self.feedback = feedback
        self.table: PairTable | None = None  # derived from the context's run and reference poses
        self.pair: StoredPair | None = None
        self._shown: tuple[int, int] | None = None  # (pair index, result id) of the pair in the inspector
        self.browser = PairBrowser(browsing)
        self.matrix = PairMatrix(browsing)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rematch = QPushButton("Re-match this pair (compare as A/B)")
        self.rematch.setEnabled(False)
        self.rematch.clicked.connect(self.rematchRequested)
        # Re-match takes any matcher: this combo and the Matcher controls show the one field they both set.
        self.rematch_matcher = matcher_combo()
        bind(
            self.rematch_matcher,
            model.match_options_changed,
            lambda: model.match_options.matcher,
            lambda name: model.set_match_options(replace(model.match_options, matcher=name)),
        )
        rematch_row = QHBoxLayout()
        rematch_row.addWidget(QLabel("with"))
        rematch_row.addWidget(self.rematch_matcher, 1)
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.browser, 1)
        column.addWidget(self.summary)
        column.addLayout(rematch_row)
        column.addWidget(self.rematch)
        self.pairs_dock = self._dock("Pairs of the run", panel)
        self.matrix_dock = self._dock("Pair matrix", self.matrix)
        if beside is not None:
            window.tabifyDockWidget(beside, self.pairs_dock)
        window.tabifyDockWidget(self.pairs_dock, self.matrix_dock)
        self.checks = LatestJobRunner("pair-check")
        self.checks.finished.connect(self._checked)
        self.browser.pairChosen.connect(self.show_pair)
        self.matrix.pairChosen.connect(self._chosen_in_matrix)
        for source in (self.browser, self.matrix):
            source.pairFailed.connect(lambda message: feedback.error(message))
        browsing.events.run.connect(self._run_changed)
        browsing.events.mode.connect(self._mode_changed)

    def _dock(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        dock.hide()
        return dock

    # --- opening ------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.feedback.dialog_parent,
            "Open a matching run (COLMAP database.db or hloc matches.h5; cancel to choose a batch folder)",
            "",
            "Matching runs (*.db *.h5);;All files (*)",
        )
        if not path:
            path = QFileDialog.getExistingDirectory(self.feedback.dialog_parent, "Open a batch output folder")
        if path:
            self.open_path(path)

    def open_path(self, path: str, image_dir: str | None = None) -> bool:
        try:
            run, reference = open_with_reference(path, image_dir)
        except RunOpenError as exc:
            self.feedback.error(str(exc))
            return False
        self.open(run, reference)
        return True

    def open(self, run: MatchingRun, reference: ReferencePoses | None = None, focal_px: float | None = None) -> None:
        self.browsing.open(run, reference, focal_px)

    def close_run(self) -> None:
        """Close the run: its docks go away and the window returns to the plain pair context."""
        self.browsing.close()

    def _run_changed(self, run: MatchingRun | None) -> None:
        self.table = self.pair = self._shown = None
        self.checks.cancel()
        self.rematch.setEnabled(False)
        self.summary.setText("")
        if run is None:
            self.browser.clear()  # stops the closed run's background counts and checks
            self.matrix.clear()
            return
        self.table = PairTable(run, self.browsing.reference)
        self.browser.set_table(self.table)
        self.matrix.set_table(self.table)
        self.pairs_dock.setWindowTitle(f"Pairs of {Path(run.source).name} ({run.kind})")
        self.pairs_dock.show()
        self.matrix_dock.show()
        self.pairs_dock.raise_()
        self.feedback.status(f"{len(run.images)} images, {len(self.table)} pairs (the model was not run)", 8000)
        if len(self.table):
            self.browser.select_pair(int(self.table.order[0]))

    def _mode_changed(self, mode: str) -> None:
        if mode == "pair":
            self.pairs_dock.hide()
            self.matrix_dock.hide()

    # --- one pair -----------------------------------------------------------------------------------------
    def _chosen_in_matrix(self, pair: StoredPair) -> None:
        self.browser.select_pair(pair.index, emit=False)
        self.show_pair(pair)

    def show_pair(self, pair: StoredPair) -> None:
        """The pair in the inspector: its images, its stored matches (in the file's frame) and stored inliers."""
        self.matrix.show_pair(pair.index)
        missing = [name for name, path in zip(pair.names, pair.image_paths) if path is None]
        if missing:
            self.feedback.error(
                f"Image file not found for {', '.join(missing)}: open the run with its image folder "
                "(match-inspector browse RUN --images DIR)."
            )
            return
        self.pair = pair
        self.rematch.setEnabled(True)
        self.summary.setText("\n".join(describe(pair, self.table.check(pair.index) if self.table else None)))
        if self.table is not None and self.table.check(pair.index) is None:
            self.checks.submit(self._check, pair, self.table, self.browsing.focal_px)
        self.model.image_options.apply_exif = pair.exif_applied  # the file's keypoints refer to this frame

        def shown() -> None:
            model = self.model
            model.set_result(pair.result, model.pair_version, stored_inliers=pair.inliers)
            self._shown = (pair.index, model.result_id)
            check = self.table.check(pair.index) if self.table is not None else None
            if check is not None:
                self._show_pose(check)
            model.set_threshold(model.score_range[0])  # COLMAP stores no scores: every stored match is shown
            if pair.inliers is not None and model.display.color_mode != "model":  # "model" also reads a run's pairs
                model.set_display(color_mode="stored")

        path0, path1 = pair.image_paths
        self.files.load_pair(str(path0), str(path1), then=shown)

    def shown_pair(self) -> int | None:
        """The run's pair whose stored matches the inspector shows now (None: another result, or none)."""
        if self._shown is None or self._shown[1] != self.model.result_id:
            return None
        return self._shown[0]

    @staticmethod
    def _check(pair: StoredPair, table: PairTable, focal_px: float | None) -> tuple[Any, ...]:
        return pair, table, focal_px, check_pair(pair, table.reference)

    def _checked(self, _: int, value: Any) -> None:
        pair, made_for, focal_px, check = value
        table = self.table
        if table is None or made_for is not table or focal_px != self.browsing.focal_px:
            return  # made for a run or a focal length that is no longer current
        table.set_check(pair.index, check)
        if self.pair is not None and self.pair.index == pair.index:
            self.summary.setText("\n".join(describe(pair, check)))
            self._show_pose(check)

    def _show_pose(self, check: QuickCheck) -> None:
        """The pose's Sampson errors for the result on screen, if it is this pair's."""
        if check.pose is None or check.pose.essential is None or self._shown is None or self.pair is None:
            return
        index, result_id = self._shown
        if index == self.pair.index:
            self.model.set_pose_sampson(result_id, check.pose.sampson_px, PoseOptions().threshold_px)

    def shutdown(self) -> None:
        self.checks.shutdown()
        self.browser.shutdown()
        self.browsing.release()
        self.table = self.pair = None
