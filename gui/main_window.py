"""The main window: assembles the model, the views, the docks, the menus and the controllers, and wires them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QByteArray, QPointF, Qt
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.analysis.matcher_table import PoseReference
from core.default_weights import DEFAULT_HUB_ID, HOW_TO_GET_WEIGHTS, hub_weights_cached, offline_mode
from core.matchers.registry import default_matcher, matcher_spec
from core.types import Matcher, MatchOptions

from .controllers.analysis import AnalysisController
from .controllers.exports import ExportActions
from .controllers.feedback import Feedback
from .controllers.files import FileActions
from .controllers.matcher_comparison import MatcherComparisonController
from .controllers.matching_runs import MatchingRunDocks
from .controllers.runs import RunController
from .controllers.sessions import SessionIO
from .controllers.tracks import TrackDocks
from .inspection import BrowsingContext, InspectionModel
from .inspection.tracks import TrackState
from .message_bar import MessageBar
from .resources import resource_path
from .settings import CONTEXTS, has_saved, open_settings, restore_model, save_model
from .views.heatmap import DensityScale, lookup_table
from .views.histogram import ScoreHistogram
from .views.inspector_panel import InspectorPanel
from .views.match_table import MatchTable
from .views.matcher_panel import MatcherPanel
from .views.pair_view import PairView
from .widgets.binding import bind, bind_field
from .widgets.controls import ControlsPanel
from .widgets.run_status import RunStatus
from .worker import MatchFunction


class MainWindow(QMainWindow):
    def __init__(self, match_function: MatchFunction | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Match Inspector")
        self.setAcceptDrops(True)
        self.model = InspectionModel()
        self.settings = open_settings()
        self.browsing = BrowsingContext()  # plain pair or a browsed run: each context keeps its own saved settings
        self.last_error = ""
        feedback = Feedback(self.report_error, self._status, self._write_failed, self)
        self.files = FileActions(self.model, self.settings, feedback)
        self.runs = RunController(self.model, feedback, match_function)
        self.analysis = AnalysisController(self.model, feedback)
        self.matcher_comparison = MatcherComparisonController(
            self.model, self.runs.worker, feedback, self._pose_reference
        )
        self.exports = ExportActions(self.model, self.settings, feedback)
        self.sessions = SessionIO(self.model, self.files, self.settings, feedback)

        self.view = PairView(self.model)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
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

        self.controls = ControlsPanel(self.model)
        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        self.controls_scroll = scroll
        self.controls_dock = self._dock("Controls", scroll, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector = InspectorPanel(self.model)
        self.table = MatchTable(self.model)
        inspect = QSplitter(Qt.Orientation.Vertical)  # the selected match and the table, both in view
        inspect.addWidget(self.inspector)
        inspect.addWidget(self.table)
        inspect.setStretchFactor(1, 1)
        self.inspector_dock = self._dock("Inspect", inspect, Qt.DockWidgetArea.RightDockWidgetArea)
        self.histogram = ScoreHistogram(self.model)
        self.histogram_dock = self._dock("Score histogram", self.histogram, Qt.DockWidgetArea.RightDockWidgetArea)
        self.matcher_panel = MatcherPanel(self.model)
        self.matchers_dock = self._dock("Compare matchers", self.matcher_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.histogram_dock, self.matchers_dock)
        self.matchers_dock.hide()  # shown on demand (Controls ▸ Compare several matchers…, View menu)
        self.matching_run = MatchingRunDocks(
            self, self.model, self.browsing, self.files, feedback, beside=self.controls_dock
        )
        self.tracks = TrackState()  # the browsed run's tracks: the one owner of what the track view shows
        self.track_docks = TrackDocks(
            self,
            self.browsing,
            self.tracks,
            self.model,
            feedback,
            self.matching_run.shown_pair,
            beside=self.matching_run.matrix_dock,
        )
        self.resizeDocks([self.controls_dock, self.inspector_dock], [310, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.inspector_dock, self.histogram_dock], [600, 160], Qt.Orientation.Vertical)

        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self._update_title()
        # the user's options while the offline default stands in for missing weights
        self.weights_fallback: MatchOptions | None = None
        self._hint_missing_weights()

    # --- construction -------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.run_status = RunStatus(self.model)
        self.statusBar().addPermanentWidget(self.run_status)

    def _build_menus(self) -> None:
        files, sessions, exports = self.files, self.sessions, self.exports
        file_menu = self.menuBar().addMenu("&File")
        # Opened as from the command line, a drop or the sample pair: the pair is matched at once.
        self._action(
            file_menu, "Open pair…", lambda: files.open_pair_dialog(self.runs.run), QKeySequence.StandardKey.Open
        )
        self._action(file_menu, "Open image 0…", lambda: files.open_image_dialog(0, self._run_if_pair))
        self._action(file_menu, "Open image 1…", lambda: files.open_image_dialog(1, self._run_if_pair))
        self._action(file_menu, "Open sample pair", self.open_sample_pair)
        self.recent_menu = file_menu.addMenu("Recent pairs")
        self._action(file_menu, "Swap images", self.swap_images, "Ctrl+Shift+X")
        file_menu.addSeparator()
        self._action(file_menu, "Open session…", sessions.open_dialog)
        self._action(file_menu, "Save session…", sessions.save_dialog, "Ctrl+Alt+S")
        self._action(file_menu, "Open matches file (NPZ, JSON, CSV)…", sessions.open_matches_dialog)
        self._action(file_menu, "Open matching run (COLMAP, hloc, batch folder)…", self.matching_run.open_dialog)
        self.close_run_action = self._action(file_menu, "Close matching run", self.matching_run.close_run)
        self.close_run_action.setEnabled(False)
        file_menu.addSeparator()
        self._action(file_menu, "Export matches…", exports.export_matches_dialog, QKeySequence.StandardKey.Save)
        self._action(file_menu, "Export view as PNG…", exports.export_png_dialog, "Ctrl+Shift+S")
        self.legend_action = self._action(file_menu, "Legend and caption in PNG")
        bind_field(self.legend_action, self.model.export_options, "legend_in_png")
        file_menu.addSeparator()
        self._action(file_menu, "Close window", self.close, QKeySequence.StandardKey.Close)
        self._action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        for dock in (self.controls_dock, self.inspector_dock, self.histogram_dock, self.matchers_dock):
            view_menu.addAction(dock.toggleViewAction())
        self._action(view_menu, "Only the pair (hide panels)", self.toggle_panels, "Ctrl+Shift+F")
        self._action(view_menu, "Fit to window", self.view.fit, "Ctrl+0")
        self._action(view_menu, "Clear box selection", lambda: self.model.set_region(None))
        options_menu = self.menuBar().addMenu("&Options")
        self.exif_action = self._action(options_menu, "Apply EXIF orientation")
        image_options = self.model.image_options  # one owner: a click reads the pair again in the new frame
        bind(self.exif_action, image_options.events.apply_exif, lambda: image_options.apply_exif, self.toggle_exif)
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Getting EfficientLoFTR weights", self.show_weights_help)
        self._refresh_recent_menu()
        # Stepping through matches belongs to the view: in a number box, Up/Down change the number.
        for key, delta in ((Qt.Key.Key_Right, 1), (Qt.Key.Key_Down, 1), (Qt.Key.Key_Left, -1), (Qt.Key.Key_Up, -1)):
            shortcut = QShortcut(QKeySequence(key), self.view, lambda d=delta: self.model.step_selection(d))
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.view, self._escape)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def _action(self, menu: Any, text: str, slot: Any = None, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcut, QKeySequence.StandardKey):
            action.setShortcuts(shortcut)  # every platform binding (Close is Ctrl+F4 and Ctrl+W)
        elif shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if slot is not None:
            action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _connect(self) -> None:
        model, controls = self.model, self.controls
        controls.runRequested.connect(self.runs.run)
        controls.cancelRequested.connect(self.runs.cancel)
        self.runs.progressChanged.connect(self._progress)
        self.runs.weightsMissing.connect(self._offer_offline_default)
        panel, comparison = self.matcher_panel, self.matcher_comparison
        panel.runRequested.connect(comparison.run)
        panel.cancelRequested.connect(comparison.cancel)
        panel.abRequested.connect(comparison.show_ab)
        controls.matchersRequested.connect(self.show_matcher_panel)
        self.files.recentChanged.connect(self._refresh_recent_menu)
        self.matching_run.rematchRequested.connect(self.runs.run)
        self.browsing.events.mode.connect(self._context_changed)
        self.browsing.events.run.connect(lambda run, _=None: self.close_run_action.setEnabled(run is not None))
        model.pair_changed.connect(self._update_title)
        model.pair_changed.connect(lambda: self.message_bar.dismiss())
        model.selection_changed.connect(self.view.follow)
        self.view.heatScaleChanged.connect(self._heat_scale)

    # --- loading and running ------------------------------------------------------------------------------
    def load_pair(self, path0: str, path1: str, run: bool = True) -> None:
        """Decode both images off the GUI thread, then show them (and match them when `run`)."""
        self.files.load_pair(path0, path1, then=self.runs.run if run else None)

    def load_image_into(self, side: int, path: str, run: bool = True) -> None:
        self.files.load_image_into(side, path, then=self._run_if_pair if run else None)

    def _run_if_pair(self) -> None:
        if self.model.has_pair:
            self.runs.run()

    def open_sample_pair(self) -> None:
        self.load_pair(str(resource_path("sample_pair_0.png")), str(resource_path("sample_pair_1.png")))

    def swap_images(self) -> None:
        if self.files.swap():
            self._run_if_pair()

    def toggle_exif(self, checked: bool) -> None:
        self.files.set_apply_exif(checked, then=self._run_if_pair)

    def show_matcher_panel(self) -> None:
        self.matchers_dock.show()
        self.matchers_dock.raise_()

    def offline_default(self) -> tuple[str, str, str]:
        """(name, label, why) of the matcher to use when EfficientLoFTR cannot run (core.matchers.registry)."""
        name, why = default_matcher(self.model.match_options)
        return name, matcher_spec(name).label, why

    def use_offline_default(self) -> None:
        name, _, _ = self.offline_default()
        self.model.set_match_options(replace(self.model.match_options, matcher=cast(Matcher, name)))
        self.runs.run()

    def _offer_offline_default(self, message: str) -> None:
        _, label, _ = self.offline_default()
        self.report_error(message, f"Use {label}", self.use_offline_default)

    def _pose_reference(self) -> PoseReference | None:
        """The cameras and true relative pose of the pair on screen, where the browsed run knows them: the cameras of
        the reference model beside the run (calibrated), else the run's own."""
        pair = self.matching_run.pair
        if self.browsing.mode != "browse" or pair is None or not self.model.has_pair:
            return None
        if tuple(str(p) for p in pair.image_paths) != self.model.paths():
            return None  # the images on screen are not the browsed pair's
        reference = self.browsing.reference
        known = [reference.intrinsics.get(name) for name in pair.names] if reference is not None else [None, None]
        camera0, camera1 = (k or own for k, own in zip(known, pair.intrinsics))
        if camera0 is None or camera1 is None:
            return None
        relative = reference.relative(*pair.names) if reference is not None else None
        source = "the run's cameras"
        if reference is not None and relative is not None:
            source = f"COLMAP model {Path(reference.source).name}"
        return PoseReference((camera0, camera1), relative, source)

    def is_idle(self) -> bool:
        """No decode, run, fit, comparison or picture under way (tests and scripts wait for this)."""
        return not (
            self.files.busy
            or self.runs.pending is not None
            or self.analysis.busy
            or self.matcher_comparison.busy
            or self.exports.busy
            or self.table.refresh_pending
        )

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
        side = None
        if widget_pos is not None:
            side = self.view.side_at(self.view.view.mapSceneToView(self.view.mapToScene(widget_pos)))
        self.files.drop(paths, side, then=self._run_if_pair)

    # --- feedback -----------------------------------------------------------------------------------------
    def report_error(self, message: str, action: str | None = None, callback: Any = None) -> None:
        self.last_error = message
        self.message_bar.show_message(message, action, callback)

    def _status(self, message: str, milliseconds: int) -> None:
        self.statusBar().showMessage(message, milliseconds)

    def _write_failed(self, message: str) -> None:
        self.last_error = message
        QMessageBox.warning(self, "Export failed", message + "\nNothing was overwritten; choose another place.")

    def _progress(self, percent: int, stage: str) -> None:
        self.run_status.show_progress(percent)
        if percent >= 0:
            self.message_bar.dismiss()  # an old error does not describe the new run
            self._status(f"{stage}…", 0)
        elif self.statusBar().currentMessage().endswith("…"):
            self.statusBar().clearMessage()

    def _hint_missing_weights(self) -> None:
        """A launch in offline mode without cached EfficientLoFTR weights says so at once and matches with the
        offline default (core.matchers.registry.default_matcher) meanwhile, instead of failing on the first run."""
        options = self.model.match_options
        if not self.runs.real_matcher or options.matcher != "eloftr" or not offline_mode():
            return
        repo = options.weights or DEFAULT_HUB_ID
        if Path(repo).expanduser().exists() or hub_weights_cached(repo):
            return  # a local checkpoint or folder (checked when it runs), or weights in the cache
        name, label, _ = self.offline_default()
        self.weights_fallback = options
        self.model.set_match_options(replace(options, matcher=cast(Matcher, name)))
        self.message_bar.show_message(
            f"Offline mode (HF_HUB_OFFLINE) is on and the EfficientLoFTR weights '{repo}' are not in the local "
            f"cache: matching uses {label} meanwhile.",
            "How to get the weights",
            self.show_weights_help,
            sticky=True,
        )

    def show_weights_help(self) -> None:
        QMessageBox.information(self, "EfficientLoFTR weights", HOW_TO_GET_WEIGHTS)

    def toggle_panels(self) -> None:
        docks = (self.controls_dock, self.inspector_dock, self.histogram_dock, self.matchers_dock)
        show = not any(dock.isVisible() for dock in docks)
        for dock in docks:
            dock.setVisible(show)

    def _escape(self) -> None:
        if self.model.selected >= 0:
            self.model.select(-1)
        else:
            self.model.set_region(None)

    # --- following the model ------------------------------------------------------------------------------
    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path0, path1 in self.files.recent():
            action = self.recent_menu.addAction(f"{Path(path0).name}  ↔  {Path(path1).name}")
            action.triggered.connect(lambda _=False, a=path0, b=path1: self.load_pair(a, b))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def _update_title(self) -> None:
        images = self.model.images
        names = [image.path.name if image is not None and image.path else "–" for image in images]
        self.setWindowTitle(
            f"Match Inspector — {names[0]} ↔ {names[1]}" if any(i is not None for i in images) else "Match Inspector"
        )
        self.empty_hint.setVisible(not self.model.has_pair)

    def _heat_scale(self, scale: DensityScale | None) -> None:
        if scale is None:
            self.controls.legend.set_heat_scale(None)
            return
        table = lookup_table()
        colours = tuple((int(table[i][0]), int(table[i][1]), int(table[i][2])) for i in (0, 64, 128, 192, 255))
        self.controls.legend.set_heat_scale(colours, scale.cell_px, scale.top)

    # --- settings and closing -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 900)
        self._restore_context()

    def _restore_context(self) -> None:
        context = self.browsing.mode
        dock_state = self.settings.value(f"{CONTEXTS[context]}window/state")
        if isinstance(dock_state, QByteArray):
            self.restoreState(dock_state)
        restore_model(self.settings, self.model, context)

    def _context_changed(self, context: str, previous: str) -> None:
        """Save what the previous context was doing, then take up the new one's saved settings (if any)."""
        self.save_settings(previous)
        if has_saved(self.settings, context):
            self._restore_context()

    def save_settings(self, context: str | None = None) -> None:
        """Save the window and the inspection settings under `context` (default: the current one)."""
        context = context or self.browsing.mode
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue(f"{CONTEXTS[context]}window/state", self.saveState())
        fallback = self.weights_fallback  # a matcher standing in for missing weights is not the user's choice
        stand_in = fallback is not None and self.model.match_options == replace(
            fallback, matcher=cast(Matcher, self.offline_default()[0])
        )
        save_model(self.settings, self.model, context, fallback if stand_in else None)
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop every background worker; never waits for a model stage."""
        parts = (self.runs, self.analysis, self.matcher_comparison, self.exports, self.files, self.track_docks)
        for part in (*parts, self.matching_run):
            part.shutdown()
        self.model.disconnect_all()

    def closeEvent(self, event: Any) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def click_match(self, index: int) -> None:
        """Select the match drawn at `index` as a click on its line would (tests and scripting)."""
        start = self.view.match_view_point(index, 0)
        end = self.view.match_view_point(index, 1)
        middle = QPointF((start.x() + end.x()) / 2, (start.y() + end.y()) / 2)
        self.model.select(self.view.nearest_match(middle))
