"""The main window: composes the views, owns the worker, and turns user actions into state changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.drawing import (
    GAINED_COLOR,
    INLIER_COLOR,
    OUTLIER_COLOR,
    SHARED_COLOR,
    draw_matches,
    residual_colors,
    score_colors,
)
from core.export import ExportError, build_match_file, read_matches, write_matches
from core.geometry import checkerboard, from_matrix, warp_onto_first
from core.io import ImageLoadError, LoadedImage, load_image, write_atomically
from core.session import SESSION_SUFFIX, Session, SessionError, file_sha256, load_session, save_session
from core.types import MatchResult, RunInfo

from .geometry_runner import GeometryRunner
from .settings import add_recent_pair, open_settings, recent_pairs, value
from .state import InspectorState
from .views.histogram import ScoreHistogram
from .views.inspector_panel import InspectorPanel
from .views.match_table import MatchTable
from .views.pair_view import PairView
from .widgets.controls import ControlsPanel
from .worker import MatchFunction, MatchWorker

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *.gif *.ppm *.pgm);;All files (*)"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@contextmanager
def _signals_blocked(*widgets: QWidget) -> Iterator[None]:
    for widget in widgets:
        widget.blockSignals(True)
    try:
        yield
    finally:
        for widget in widgets:
            widget.blockSignals(False)


class MessageBar(QWidget):
    """A non-blocking banner above the view: errors and hints in plain words, with an optional action."""

    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = QPushButton()
        self.action.setVisible(False)
        close = QPushButton("×")
        close.setFixedWidth(28)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self.setStyleSheet("background: #5a4a12; color: #fff3c4;")
        self.hide()
        self._callback: Any = None
        self.action.clicked.connect(self._run_action)

    def show_message(self, text: str, action: str | None = None, callback: Any = None) -> None:
        self.label.setText(text)
        self.action.setVisible(action is not None)
        if action:
            self.action.setText(action)
        self._callback = callback
        self.show()

    def _run_action(self) -> None:
        if self._callback is not None:
            self._callback()
        self.hide()


class MainWindow(QMainWindow):
    def __init__(self, match_function: MatchFunction | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Match Inspector")
        self.setAcceptDrops(True)
        self.state = InspectorState()
        self.settings = open_settings()
        self.worker = MatchWorker(match_function)
        self.geometry_runner = GeometryRunner()
        self.request_id = 0
        self.pending: tuple[int, int] | None = None  # (request id, pair version) awaited
        self.apply_exif = True
        self.last_error = ""
        self._run_started = 0.0

        self.view = PairView(self.state)
        self.message_bar = MessageBar()
        self.empty_hint = QLabel("Drop two images here, or use File ▸ Open pair… (Ctrl+O)")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setStyleSheet("color: #aaa; font-size: 15px; padding: 6px;")
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.message_bar)
        column.addWidget(self.empty_hint)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)

        self.controls = ControlsPanel(self.state)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(330)
        self.controls_dock = self._dock("Controls", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector = InspectorPanel(self.state)
        self.table = MatchTable(self.state)
        self.histogram = ScoreHistogram(self.state)
        tabs = QTabWidget()
        tabs.addTab(self.inspector, "Selected match")
        tabs.addTab(self.table, "Match table")
        self.side_tabs = tabs
        self.inspector_dock = self._dock("Inspect", tabs, Qt.DockWidgetArea.RightDockWidgetArea)
        self.histogram_dock = self._dock("Score histogram", self.histogram, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.controls_dock, self.inspector_dock], [330, 380], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock, self.histogram_dock], [560, 200], Qt.Orientation.Vertical)

        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._update_title()

    # --- construction -------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.run_info = QLabel("")
        bar.addPermanentWidget(self.run_info)
        bar.addPermanentWidget(self.progress)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "Open pair…", self.open_pair_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open image 0…", lambda: self.open_image_dialog(0))
        self._action(file_menu, "Open image 1…", lambda: self.open_image_dialog(1))
        self._action(file_menu, "Open sample pair", self.open_sample_pair)
        self.recent_menu = file_menu.addMenu("Recent pairs")
        self._action(file_menu, "Swap images", self.swap_images, "Ctrl+W")
        file_menu.addSeparator()
        self._action(file_menu, "Open session…", self.open_session_dialog)
        self._action(file_menu, "Save session…", self.save_session_dialog, "Ctrl+Alt+S")
        self._action(file_menu, "Open matches file (NPZ, JSON, CSV)…", self.open_matches_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "Export matches…", self.export_matches_dialog, QKeySequence.StandardKey.Save)
        self._action(file_menu, "Export view as PNG…", self.export_png_dialog, "Ctrl+Shift+S")
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        for dock in (self.controls_dock, self.inspector_dock, self.histogram_dock):
            view_menu.addAction(dock.toggleViewAction())
        self._action(view_menu, "Fit to window", lambda: self.view.view.autoRange(padding=0.02), "F")
        options_menu = self.menuBar().addMenu("&Options")
        exif = self._action(options_menu, "Apply EXIF orientation", self.toggle_exif)
        exif.setCheckable(True)
        exif.setChecked(True)
        self.exif_action = exif
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Getting EfficientLoFTR weights", self.show_weights_help)
        self._refresh_recent_menu()
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.state.step_selection(1))
        QShortcut(QKeySequence(Qt.Key.Key_Down), self, lambda: self.state.step_selection(1))
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.state.step_selection(-1))
        QShortcut(QKeySequence(Qt.Key.Key_Up), self, lambda: self.state.step_selection(-1))
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, lambda: self.state.select(-1))

    def _action(self, menu: Any, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _connect(self) -> None:
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.controls.runRequested.connect(self.run_matching)
        self.controls.cancelRequested.connect(self.cancel_matching)
        self.controls.modelOptionsChanged.connect(self._model_options_changed)
        self.controls.displayChanged.connect(self._display_changed)
        self.controls.geometryOptionsChanged.connect(self.schedule_analysis)
        self.controls.overlayChanged.connect(self.update_overlay)
        self.controls.keepReferenceRequested.connect(lambda: self.state.keep_as_reference("kept run"))
        self.geometry_runner.done.connect(self._on_geometry)
        self.analysis_timer = QTimer(self, singleShot=True, interval=150)
        self.analysis_timer.timeout.connect(self.run_analysis)
        self.state.thresholdChanged.connect(self.schedule_analysis)
        self.state.resultChanged.connect(self.schedule_analysis)
        self.state.resultChanged.connect(self._update_run_info)
        self.state.thresholdChanged.connect(self._update_run_info)
        self.state.geometryChanged.connect(self.controls.update_geometry_label)
        self.state.geometryChanged.connect(self.update_overlay)
        self.state.geometryChanged.connect(self._update_legend)
        self.state.pairChanged.connect(self._update_title)

    # --- loading ------------------------------------------------------------------------------------------
    def open_pair_dialog(self) -> None:
        folder = value(self.settings, "paths/last_folder", "", str)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open an image pair (choose two)", folder, IMAGE_FILTER)
        if len(paths) == 2:
            self.load_pair(paths[0], paths[1])
        elif paths:
            self.message_bar.show_message("Choose exactly two images for a pair (Ctrl- or Shift-click).")

    def open_image_dialog(self, side: int) -> None:
        folder = value(self.settings, "paths/last_folder", "", str)
        path, _ = QFileDialog.getOpenFileName(self, f"Open image {side}", folder, IMAGE_FILTER)
        if path:
            self.load_image_into(side, path)

    def open_sample_pair(self) -> None:
        self.load_pair(str(RESOURCES / "sample_pair_0.png"), str(RESOURCES / "sample_pair_1.png"))

    def _read(self, path: str) -> LoadedImage | None:
        try:
            image = load_image(path, apply_exif=self.apply_exif)
        except ImageLoadError as exc:
            self.report_error(str(exc))
            return None
        self.settings.setValue("paths/last_folder", str(Path(path).parent))
        if image.note:
            self.statusBar().showMessage(f"{Path(path).name}: {image.note}", 8000)
        return image

    def load_image_into(self, side: int, path: str, run: bool = True) -> bool:
        image = self._read(path)
        if image is None:
            return False
        self._invalidate_run()
        self.state.set_image(side, image)
        self._pair_loaded(run)
        return True

    def load_pair(self, path0: str, path1: str, run: bool = True) -> bool:
        """Both images or neither: a pair is only replaced when both files load."""
        image0, image1 = self._read(path0), self._read(path1)
        if image0 is None or image1 is None:
            return False
        self._invalidate_run()
        self.state.set_image(0, image0)
        self.state.set_image(1, image1)
        add_recent_pair(self.settings, path0, path1)
        self._refresh_recent_menu()
        self._pair_loaded(run)
        return True

    def _pair_loaded(self, run: bool) -> None:
        self.message_bar.hide()
        self.empty_hint.setVisible(not self.state.has_pair)
        if run and self.state.has_pair:
            self.run_matching()

    def swap_images(self) -> None:
        if self.state.images[0] is None and self.state.images[1] is None:
            return
        self._invalidate_run()
        self.state.swap()
        if self.state.has_pair:
            self.run_matching()

    def toggle_exif(self, checked: bool) -> None:
        self.apply_exif = checked
        paths = self.state.paths()
        if all(paths):
            self.load_pair(paths[0], paths[1])  # type: ignore[arg-type]

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path0, path1 in recent_pairs(self.settings):
            action = self.recent_menu.addAction(f"{Path(path0).name}  ↔  {Path(path1).name}")
            action.triggered.connect(lambda _=False, a=path0, b=path1: self.load_pair(a, b))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    # --- drag and drop ------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self.drop_files(paths, self.view.mapFrom(self, event.position().toPoint()))
        event.acceptProposedAction()

    def drop_files(self, paths: list[str], widget_pos: Any = None) -> None:
        """Two files fill both slots; one file goes to the image under the drop point (else the empty slot)."""
        if len(paths) >= 2:
            if len(paths) > 2:
                self.statusBar().showMessage("More than two files dropped: using the first two.", 6000)
            self.load_pair(paths[0], paths[1])
        elif len(paths) == 1:
            self.load_image_into(self._side_at(widget_pos), paths[0])

    def _side_at(self, widget_pos: Any) -> int:
        if self.state.images[0] is None:
            return 0
        if widget_pos is not None and self.state.images[1] is not None:
            point = self.view.view.mapSceneToView(self.view.mapToScene(widget_pos))
            offset = self.view.image_offset()
            if self.view.layout_mode == "side":
                return 1 if point.x() >= offset[0] else 0
            return 1 if point.y() >= offset[1] else 0
        return 1 if self.state.images[1] is None else 0

    # --- matching -----------------------------------------------------------------------------------------
    def run_matching(self) -> None:
        if not self.state.has_pair:
            self.message_bar.show_message("Load two images first (drop them here or File ▸ Open pair…).")
            return
        self.request_id += 1
        self.pending = (self.request_id, self.state.pair_version)
        image0, image1 = self.state.images
        self.state.set_busy(True)
        self.message_bar.hide()  # an old error does not describe the new run
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._run_started = time.perf_counter()
        self.statusBar().showMessage("matching…")
        self.worker.submit(self.request_id, image0, image1, self.controls.match_options())

    def cancel_matching(self) -> None:
        self.worker.cancel()

    def _invalidate_run(self) -> None:
        """The pair is about to change: whatever runs now is for the old pair."""
        if self.pending is not None:
            self.worker.cancel()
            self.pending = None
            self.state.set_busy(False)
            self.progress.setVisible(False)

    def _model_options_changed(self) -> None:
        if self.pending is not None:
            self.run_matching()  # a run with the old options is stale: restart it with the new ones
        elif self.state.result is not None:
            self.statusBar().showMessage("Model options changed: press Match to run again.", 6000)

    def _is_current(self, request_id: int) -> bool:
        return self.pending is not None and self.pending[0] == request_id

    def _on_progress(self, request_id: int, stage: str, fraction: float) -> None:
        if self._is_current(request_id):
            self.progress.setValue(int(fraction * 100))
            self.statusBar().showMessage(f"{stage}…" if stage != "done" else "done")

    def _on_finished(self, request_id: int, result: MatchResult) -> None:
        if not self._is_current(request_id) or self.pending is None:
            return  # stale: computed for another pair or other options
        pair_version = self.pending[1]
        self.pending = None
        self.state.set_busy(False)
        self.progress.setVisible(False)
        if self.state.set_result(result, pair_version):
            self.message_bar.hide()
            notes = "; ".join(result.info.notes)
            self.statusBar().showMessage(notes, 10000) if notes else self.statusBar().clearMessage()

    def _on_failed(self, request_id: int, message: str) -> None:
        if not self._is_current(request_id):
            return
        self.pending = None
        self.state.set_busy(False)
        self.progress.setVisible(False)
        self.statusBar().clearMessage()
        if message.startswith("No usable EfficientLoFTR weights"):
            self.report_error(message, "Use SIFT baseline", self.use_sift_baseline)
        else:
            self.report_error(message)

    def _on_cancelled(self, request_id: int) -> None:
        if self._is_current(request_id):
            self.pending = None
            self.state.set_busy(False)
            self.progress.setVisible(False)
            self.statusBar().showMessage("Matching cancelled.", 5000)

    def use_sift_baseline(self) -> None:
        self.controls.matcher.setCurrentIndex(self.controls.matcher.findData("sift"))
        self.run_matching()

    def report_error(self, message: str, action: str | None = None, callback: Any = None) -> None:
        self.last_error = message
        self.message_bar.show_message(message, action, callback)

    def show_weights_help(self) -> None:
        from core.model.weights import HOW_TO_GET_WEIGHTS  # noqa: PLC0415 (imports torch only on demand)

        QMessageBox.information(self, "EfficientLoFTR weights", HOW_TO_GET_WEIGHTS)

    # --- analysis: geometry and comparison ----------------------------------------------------------------
    def schedule_analysis(self, *_: object) -> None:
        self.analysis_timer.start()

    def run_analysis(self) -> None:
        result = self.state.result
        if result is None:
            return
        options = self.controls.geometry_options()
        n = self.state.visible_count()
        if options.model == "none":
            self.state.set_geometry(None, None)
        else:
            self.geometry_runner.submit(result.kpts0[:n], result.kpts1[:n], options, self.state.threshold)
            self.controls.update_geometry_label()
        self.state.refresh_comparison()

    def _on_geometry(self, job: int, geometry: Any, threshold: float) -> None:
        if job != self.geometry_runner.latest or self.state.result is None:
            return
        if abs(threshold - self.state.threshold) > 1e-9:
            return  # fitted for a threshold no longer shown; a newer job is on its way
        self.state.set_geometry(geometry, threshold)

    def update_overlay(self) -> None:
        geometry = self.state.geometry
        image0, image1 = self.state.images
        wanted = self.controls.overlay.isChecked()
        if (
            not wanted
            or geometry is None
            or not geometry.ok
            or geometry.model != "H"
            or image0 is None
            or image1 is None
            or geometry.matrix is None
        ):
            self.view.show_overlay(None, 0)
            self.view.set_lines_visible(True)
            if wanted and (geometry is None or geometry.model != "H"):
                self.statusBar().showMessage("The overlay needs a homography: choose H in Geometry.", 5000)
            return
        warped = warp_onto_first(image1.pixels, geometry.matrix, image0.size)
        if self.view.lines_visible:
            self.statusBar().showMessage("Overlay shown: match lines are hidden until it is turned off.", 5000)
        self.view.set_lines_visible(False)  # the alignment is what the overlay shows: lines would cover it
        blend = self.controls.overlay_blend.value() / 100
        if self.controls.overlay_checker.isChecked():
            self.view.show_overlay(checkerboard(image0.pixels, warped), 1.0)
        else:
            self.view.show_overlay(warped, blend)

    # --- display ------------------------------------------------------------------------------------------
    def _display_changed(self) -> None:
        c = self.controls
        self.view.set_layout_mode(c.layout_mode.currentData())
        if c.color_mode.currentData() != self.view.color_mode:
            self.view.set_color_mode(c.color_mode.currentData())
        if c.line_width.value() != self.view.line_width or abs(c.opacity.value() / 100 - self.view.opacity) > 1e-6:
            self.view.set_style(c.line_width.value(), c.opacity.value() / 100)
        if c.markers.isChecked() != self.view.show_markers:
            self.view.set_markers(c.markers.isChecked())
        if c.heatmap.isChecked() != self.view.show_heatmap:
            self.view.set_heatmap(c.heatmap.isChecked())
        self._update_legend()

    def _update_legend(self) -> None:
        geometry = self.state.geometry
        self.controls.legend.set_mode(
            self.controls.color_mode.currentData(), geometry.threshold_px if geometry is not None else 3.0
        )

    def _update_title(self) -> None:
        names = [image.path.name if image is not None and image.path else "–" for image in self.state.images]
        self.setWindowTitle(
            f"Match Inspector — {names[0]} ↔ {names[1]}"
            if any(i is not None for i in self.state.images)
            else "Match Inspector"
        )
        self.empty_hint.setVisible(not self.state.has_pair)

    def _update_run_info(self, *_: object) -> None:
        result = self.state.result
        if result is None:
            self.run_info.setText("")
            return
        info = result.info
        size = " / ".join(f"{w}x{h}" for h, w in info.inference_sizes)
        stages = " ".join(f"{k} {v * 1000:.0f}ms" for k, v in info.timings.items() if k != "load")
        self.run_info.setText(
            f"{info.matcher} · {info.device} · {info.precision} · {size} · {stages} · "
            f"{self.state.visible_count():,}/{len(result):,} matches"
        )

    def current_colors(self, count: int) -> np.ndarray:
        """The colours of the first `count` matches as drawn now (for the PNG export)."""
        result = self.state.result
        assert result is not None
        geometry = self.state.geometry if self.state.geometry_is_current() else None
        mode = self.view.color_mode
        if mode == "inlier" and geometry is not None and geometry.ok:
            return np.where(geometry.inliers[:count, None], INLIER_COLOR, OUTLIER_COLOR).astype(np.uint8)
        if mode == "residual" and geometry is not None and geometry.ok:
            return residual_colors(geometry.residuals[:count], geometry.threshold_px)
        comparison = self.state.comparison
        if mode == "compare" and comparison is not None and len(comparison.shared_b) == count:
            return np.where(comparison.shared_b[:, None], SHARED_COLOR, GAINED_COLOR).astype(np.uint8)
        return score_colors(result.scores[:count])

    # --- export -------------------------------------------------------------------------------------------
    def _export_path(self, title: str, filters: str, default_name: str) -> str:
        folder = value(self.settings, "paths/export_folder", "", str)
        path, _ = QFileDialog.getSaveFileName(
            self, title, str(Path(folder) / default_name) if folder else default_name, filters
        )
        if path:
            self.settings.setValue("paths/export_folder", str(Path(path).parent))
        return path

    def _default_stem(self) -> str:
        names = [image.path.stem if image is not None and image.path else "image" for image in self.state.images]
        return f"{names[0]}__{names[1]}"

    def export_matches_dialog(self) -> None:
        if self.state.result is None:
            self.report_error("Nothing to export yet: match a pair first.")
            return
        path = self._export_path(
            "Export matches", "NumPy (*.npz);;JSON (*.json);;CSV (*.csv)", self._default_stem() + ".npz"
        )
        if path:
            self.export_matches(path)

    def export_matches(self, path: str) -> bool:
        result = self.state.result
        if result is None:
            return False
        geometry = self.state.geometry if self.state.geometry_is_current() else None
        try:
            write_matches(path, build_match_file(result, self.state.paths(), self.state.threshold, geometry))
        except ExportError as exc:
            self._export_failed(str(exc))
            return False
        self.statusBar().showMessage(f"Exported {self.state.visible_count():,} matches to {path}", 8000)
        return True

    def export_png_dialog(self) -> None:
        if not self.state.has_pair:
            self.report_error("Nothing to export yet: load a pair first.")
            return
        path = self._export_path("Export view as PNG", "PNG (*.png)", self._default_stem() + ".png")
        if path:
            self.export_png(path)

    def export_png(self, path: str) -> bool:
        """The view at full image resolution: both images and the visible lines in their current colours."""
        image0, image1 = self.state.images
        if image0 is None or image1 is None:
            return False
        result = self.state.result
        n = self.state.visible_count()
        if result is None:
            k0 = k1 = np.zeros((0, 2), np.float32)
            scores, colors = np.zeros(0, np.float32), np.zeros((0, 3), np.uint8)
        else:
            k0, k1, scores, colors = result.kpts0[:n], result.kpts1[:n], result.scores[:n], self.current_colors(n)
        picture = draw_matches(
            image0.pixels,
            image1.pixels,
            k0,
            k1,
            scores,
            width=max(1, int(round(self.view.line_width))),
            colors=colors,
            layout=self.view.layout_mode,
            opacity=self.view.opacity,
        )
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"))
        except OSError as exc:
            self._export_failed(f"cannot write {Path(path).name}: {exc.strerror or exc}")
            return False
        self.statusBar().showMessage(f"Saved {picture.width}x{picture.height} picture to {path}", 8000)
        return True

    def _export_failed(self, message: str) -> None:
        self.last_error = message
        QMessageBox.warning(self, "Export failed", message + "\nNothing was overwritten; choose another place.")

    # --- sessions and reopening exports ---------------------------------------------------------------------
    def save_session_dialog(self) -> None:
        if self.state.result is None:
            self.report_error("Nothing to save yet: match a pair first.")
            return
        path = self._export_path(
            "Save session", f"Match Inspector session (*{SESSION_SUFFIX})", self._default_stem() + SESSION_SUFFIX
        )
        if path:
            self.save_session(path)

    def view_record(self) -> dict[str, Any]:
        c = self.controls
        (x0, x1), (y0, y1) = self.view.view.viewRange()
        return {
            "layout": self.view.layout_mode,
            "color_mode": self.view.color_mode,
            "line_width": self.view.line_width,
            "opacity": self.view.opacity,
            "markers": self.view.show_markers,
            "heatmap": self.view.show_heatmap,
            "range": [x0, x1, y0, y1],
            "overlay": c.overlay.isChecked(),
            "overlay_blend": c.overlay_blend.value(),
            "checkerboard": c.overlay_checker.isChecked(),
        }

    def save_session(self, path: str) -> str | None:
        result = self.state.result
        path0, path1 = self.state.paths()
        if result is None or path0 is None or path1 is None:
            return None
        options = self.controls.geometry_options()
        geometry: dict[str, Any] = {
            "model": options.model,
            "threshold_px": options.threshold_px,
            "confidence": options.confidence,
            "max_iters": options.max_iters,
        }
        if self.state.geometry_is_current() and self.state.geometry is not None and self.state.geometry.ok:
            geometry["matrix"] = self.state.geometry.matrix.tolist()  # type: ignore[union-attr]
        session = Session(
            (path0, path1),
            (file_sha256(path0), file_sha256(path1)),
            result,
            self.state.threshold,
            self.state.selected,
            geometry,
            self.view_record(),
        )
        try:
            written = save_session(path, session)
        except SessionError as exc:
            self._export_failed(str(exc))
            return None
        self.statusBar().showMessage(f"Session saved to {written}", 8000)
        return str(written)

    def _ask_open_file(self, title: str, filters: str) -> str:
        """A file to open, starting in the folder exports and sessions were last written to."""
        folder = value(self.settings, "paths/export_folder", "", str)
        return QFileDialog.getOpenFileName(self, title, folder, filters)[0]

    def open_session_dialog(self) -> None:
        path = self._ask_open_file("Open session", f"Match Inspector session (*{SESSION_SUFFIX})")
        if path:
            self.open_session(path)

    def open_session(self, path: str) -> bool:
        """Restore images, matches, threshold, selection, geometry and view; the model does not run."""
        try:
            session = load_session(path)
        except SessionError as exc:
            self.report_error(str(exc))
            return False
        if not self._show_result(session.image_paths, session.result):
            return False
        changed = session.changed_images()
        c = self.controls
        view = session.view
        with _signals_blocked(c.layout_mode, c.color_mode, c.line_width, c.opacity, c.markers, c.heatmap):
            c.layout_mode.setCurrentIndex(max(0, c.layout_mode.findData(view.get("layout", "side"))))
            c.color_mode.setCurrentIndex(max(0, c.color_mode.findData(view.get("color_mode", "confidence"))))
            c.line_width.setValue(float(view.get("line_width", 1.0)))
            c.opacity.setValue(int(round(100 * float(view.get("opacity", 0.85)))))
            c.markers.setChecked(bool(view.get("markers", False)))
            c.heatmap.setChecked(bool(view.get("heatmap", False)))
        self._display_changed()
        geometry = session.geometry
        with _signals_blocked(c.geometry_model, c.geometry_threshold, c.geometry_confidence, c.geometry_iters):
            c.geometry_model.setCurrentIndex(max(0, c.geometry_model.findData(geometry.get("model", "F"))))
            c.geometry_threshold.setValue(float(geometry.get("threshold_px", 3.0)))
            c.geometry_confidence.setValue(float(geometry.get("confidence", 0.999)))
            c.geometry_iters.setValue(int(geometry.get("max_iters", 10_000)))
        self.state.set_threshold(session.threshold)
        self.analysis_timer.stop()
        if "matrix" in geometry:
            n = self.state.visible_count()
            result = session.result
            self.state.set_geometry(
                from_matrix(
                    geometry["model"],
                    np.array(geometry["matrix"]),
                    result.kpts0[:n],
                    result.kpts1[:n],
                    float(geometry.get("threshold_px", 3.0)),
                ),
                self.state.threshold,
            )
        else:
            self.run_analysis()
        self.state.select(session.selected)
        if "range" in view:
            x0, x1, y0, y1 = view["range"]
            self.view.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        if changed:
            self.report_error(
                "Changed since the session was saved: "
                + ", ".join(Path(p).name for p in changed)
                + ". The matches may no longer fit the images."
            )
        self.statusBar().showMessage(f"Session {Path(path).name} opened (the model was not run).", 8000)
        return True

    def open_matches_dialog(self) -> None:
        path = self._ask_open_file("Open matches file", "Matches (*.npz *.json *.csv)")
        if path:
            self.open_matches_file(path)

    def open_matches_file(self, path: str) -> bool:
        """Show an exported NPZ/JSON/CSV on the images named in its provenance."""
        try:
            data = read_matches(path)
        except ExportError as exc:
            self.report_error(str(exc))
            return False
        prov = data.provenance
        paths = (prov.get("image0"), prov.get("image1"))
        if not all(paths):
            self.report_error(f"{Path(path).name} does not name its images; open the pair first.")
            return False
        order = np.argsort(-data.scores, kind="stable")
        info = RunInfo.from_dict(prov, fallback_source=Path(path).name)
        info = replace(info, notes=(*info.notes, f"opened from {Path(path).name}"))
        sizes = (tuple(prov.get("image0_size", (0, 0))), tuple(prov.get("image1_size", (0, 0))))
        result = MatchResult(data.kpts0[order], data.kpts1[order], data.scores[order], sizes, info)  # type: ignore[arg-type]
        if not self._show_result(paths, result):  # type: ignore[arg-type]
            return False
        self.state.set_threshold(float(prov.get("threshold", self.state.threshold)))
        return True

    def _show_result(self, paths: tuple[str, str], result: MatchResult) -> bool:
        if not self.load_pair(paths[0], paths[1], run=False):
            return False
        loaded = tuple(image.size for image in self.state.images if image is not None)
        expected = tuple(tuple(s) for s in result.image_sizes)
        if all(s != (0, 0) for s in expected) and loaded != expected:
            self.report_error(f"The images have other sizes than the matches were made for ({loaded} vs {expected}).")
        self.state.set_result(result, self.state.pair_version)
        return True

    # --- settings and closing -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 900)
        dock_state = self.settings.value("window/state")
        if isinstance(dock_state, QByteArray):
            self.restoreState(dock_state)
        self.controls.restore(self.settings)
        self._display_changed()

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.controls.save(self.settings)
        self.settings.sync()

    def closeEvent(self, event: Any) -> None:
        self.save_settings()
        self.worker.shutdown()  # the worker thread is a daemon: closing never waits for a model stage
        super().closeEvent(event)

    def click_match(self, index: int) -> None:
        """Select the match drawn at `index` as a click on its line would (tests and scripting)."""
        start = self.view.match_view_point(index, 0)
        end = self.view.match_view_point(index, 1)
        middle = QPointF((start.x() + end.x()) / 2, (start.y() + end.y()) / 2)
        self.state.select(self.view.nearest_match(middle))
