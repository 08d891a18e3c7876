"""The tracks of the browsed run (dock content): one image's keypoints coloured by track length or by what the model
made of them, and the chosen track as a strip of patches around its point in every image it reaches, with the pairs
that link it and their scores.

Reads gui.inspection.TrackState and writes only through it (click a keypoint: select_track; the image, colour and
stepping choices: its setters). Images and patches are decoded on a background runner (gui.jobs); each answer carries
the build, track and image it was made for and is dropped when those are no longer current.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.formats.images import ImageLoadError
from core.runs.base import MatchingRun
from core.tracks.build import RunTracks

from ..inspection.tracks import TrackState
from ..jobs import LatestJobRunner
from ..widgets.binding import bind
from .track_patches import CONFLICT_COLOUR, PATCH_PX, ImageCache, mark, patch, to_pixmap

LENGTH_BINS = ((2, 2), (3, 3), (4, 5), (6, 9), (10, 10**9))
LENGTH_COLOURS = ((150, 150, 150), (80, 160, 255), (60, 200, 120), (250, 200, 40), (255, 90, 200))
TRIANGULATED_COLOURS = {  # what became of a keypoint in the model
    "triangulated": (40, 220, 90),
    "reachable": (255, 170, 30),  # not itself, but its track holds a 3D point
    "not": (150, 150, 150),
}
MAX_PAIR_LINES = 40


def length_label(low: int, high: int) -> str:
    return f"{low}" if low == high else (f"{low}+" if high > 10**6 else f"{low}-{high}")


class TrackView(QWidget):
    stripShown = Signal(int)  # the track whose strip (with every patch) is now on screen

    def __init__(self, state: TrackState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.run: MatchingRun | None = None  # the browsed run: image names and files (set by the dock's owner)
        self.cache = ImageCache()
        self.decoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="track-decode")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.colour_choice = QComboBox()
        self.colour_choice.addItem("colour: track length", "length")
        self.colour_choice.addItem("colour: triangulated or not", "triangulated")
        self.step_choice = QComboBox()
        self.step_choice.addItem("step: longest first", "length")
        self.step_choice.addItem("step: conflicts first", "conflict")
        self.previous_button = QToolButton()
        self.next_button = QToolButton()
        self.previous_button.setText("◀")
        self.next_button.setText("▶")
        self.previous_button.setToolTip("previous track ([)")
        self.next_button.setToolTip("next track (])")
        self.image_choice = QComboBox()
        self.conflict = QDoubleSpinBox(minimum=0.0, maximum=1000.0, decimals=1, singleStep=0.5, suffix=" px")
        self.conflict.setPrefix("conflict > ")
        self.conflict.setToolTip("two keypoints of one image in one track further apart than this are a conflict")
        self.conflict.setKeyboardTracking(False)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.image_summary = QLabel("")
        self.image_summary.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image_item)
        self.buckets: list[pg.ScatterPlotItem] = []
        self.conflict_item = pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen(*CONFLICT_COLOUR, width=2))
        self.current_item = pg.ScatterPlotItem(size=18, symbol="o", pen=pg.mkPen("w", width=2), brush=None)
        self.plot.addItem(self.conflict_item)
        self.plot.addItem(self.current_item)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(2, 2, 2, 2)
        self.strip_layout.addStretch(1)
        self.strip_scroll = strip_scroll = QScrollArea()
        strip_scroll.setWidgetResizable(True)
        strip_scroll.setWidget(self.strip)
        strip_scroll.setFixedHeight(2 * PATCH_PX + 72)
        self.details = QLabel("Click a keypoint to see its track.")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        details_scroll = QScrollArea()
        details_scroll.setWidgetResizable(True)
        details_scroll.setWidget(self.details)

        for choice in (self.image_choice, self.colour_choice, self.step_choice):
            # narrow docks stay narrow: the controls' width must not widen the dock area it shares as a tab
            choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            choice.setMinimumContentsLength(6)
        row = QHBoxLayout()
        row.addWidget(self.image_choice, 2)
        row.addWidget(self.colour_choice, 2)
        stepping = QHBoxLayout()
        stepping.addWidget(self.step_choice, 2)
        stepping.addWidget(self.previous_button)
        stepping.addWidget(self.next_button)
        stepping.addWidget(self.conflict, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addLayout(row)
        layout.addLayout(stepping)
        layout.addWidget(self.legend)
        layout.addWidget(self.image_summary)
        layout.addWidget(self.plot, 3)
        layout.addWidget(strip_scroll)
        layout.addWidget(details_scroll, 2)

        self.images = LatestJobRunner("track-image")
        self.images.finished.connect(self._image_loaded)
        self.images.failed.connect(lambda _job, message: self.status.setText(message))
        self.patches = LatestJobRunner("track-patches")
        self.patches.finished.connect(self._patches_loaded)
        self.patches.failed.connect(lambda _job, message: self.details.setText(escape(message)))
        bind(self.colour_choice, state.colour_changed, lambda: state.colour_by, state.set_colour_by)
        bind(self.step_choice, state.step_changed, lambda: state.step_by, state.set_step_by)
        bind(self.conflict, state.wanted_changed, lambda: state.conflict_px, state.set_conflict_px)
        bind(self.image_choice, state.image_changed, lambda: state.image, state.show_image)
        self.previous_button.clicked.connect(lambda: state.step(-1))
        self.next_button.clicked.connect(lambda: state.step(1))
        QShortcut(QKeySequence("["), self, lambda: state.step(-1))
        QShortcut(QKeySequence("]"), self, lambda: state.step(1))
        state.status_changed.connect(lambda text: self.status.setText(text))
        state.built_changed.connect(self._built_changed)
        state.colour_changed.connect(lambda *_: self._draw_keypoints())
        state.image_changed.connect(lambda *_: self._image_changed())
        state.track_changed.connect(lambda *_: self._track_changed())
        self._built_changed()

    # the run and its build
    def set_run(self, run: MatchingRun | None) -> None:
        self.run = run
        blocked = self.image_choice.blockSignals(True)
        self.image_choice.clear()
        for index, image in enumerate(run.images if run is not None else ()):
            self.image_choice.addItem(image.name, index)
        self.image_choice.setCurrentIndex(max(0, self.image_choice.findData(self.state.image)))
        self.image_choice.blockSignals(blocked)

    def _built_changed(self) -> None:
        built = self.state.built
        for widget in (self.previous_button, self.next_button, self.step_choice, self.colour_choice):
            widget.setEnabled(built is not None)
        if built is not None and built.triangulation is None:
            self.colour_choice.model().item(1).setEnabled(False)  # type: ignore[attr-defined]
        elif built is not None:
            self.colour_choice.model().item(1).setEnabled(True)  # type: ignore[attr-defined]
        self._image_changed()
        self._track_changed()

    def _image_changed(self) -> None:
        self.image_item.clear()
        self.image_summary.setText(self.describe_image(self.state.built, self.state.image))
        self._draw_keypoints()
        self._draw_current()
        path = self._image_path(self.state.image)
        if path is not None:
            self.images.submit(self._load_image, path, self._exif(), self.state.image)

    def _load_image(self, path: Path, apply_exif: bool, image: int) -> tuple[int, np.ndarray]:
        return image, self.cache.get(path, apply_exif)

    def _image_loaded(self, _job: int, value: tuple[int, np.ndarray]) -> None:
        image, pixels = value
        if image == self.state.image:
            self.image_item.setImage(pixels, autoLevels=False, levels=(0, 255))

    def _image_path(self, image: int) -> Path | None:
        if self.run is None or not 0 <= image < len(self.run.images):
            return None
        return self.run.image_path(self.run.images[image].name)

    def _exif(self) -> bool:
        return self.run is not None and self.run.exif_applied

    # keypoints of the image
    def keypoint_colours(self, built: RunTracks, nodes: np.ndarray) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
        """A colour class per node and the (label, rgb) of each class, for the current colour mode."""
        tracks = built.tracks
        found = built.triangulation
        if self.state.colour_by == "triangulated" and found is not None:
            has_point = found.point3d >= 0
            reachable = np.bincount(tracks.track[has_point], minlength=len(tracks)) > 0
            classes = np.where(has_point[nodes], 0, np.where(reachable[tracks.track[nodes]], 1, 2))
            return classes, [(name, rgb) for name, rgb in TRIANGULATED_COLOURS.items()]
        lengths = tracks.length[tracks.track[nodes]]
        classes = np.zeros(len(nodes), np.int64)
        for k, (low, high) in enumerate(LENGTH_BINS):
            classes[(lengths >= low) & (lengths <= high)] = k
        return classes, [(f"{length_label(*b)} images", c) for b, c in zip(LENGTH_BINS, LENGTH_COLOURS)]

    def _draw_keypoints(self) -> None:
        built, image = self.state.built, self.state.image
        for item in self.buckets:
            item.clear()
        self.conflict_item.clear()
        if built is None or image < 0:
            self.legend.setText("")
            return
        nodes = built.tracks.nodes_in_image(image)
        classes, legend = self.keypoint_colours(built, nodes)
        while len(self.buckets) < len(legend):
            item = pg.ScatterPlotItem(size=7, pen=None)
            self.plot.addItem(item)
            self.buckets.append(item)
        xy = built.tracks.graph.xy[nodes]
        for k, (_label, rgb) in enumerate(legend):
            chosen = classes == k
            self.buckets[k].setData(xy[chosen, 0], xy[chosen, 1], brush=pg.mkBrush(*rgb), pen=None, size=7)
        extra = built.conflicts.extra[nodes]
        self.conflict_item.setData(xy[extra, 0], xy[extra, 1])
        swatches = " ".join(f'<span style="color: rgb{rgb}">●</span> {escape(label)}' for label, rgb in legend)
        self.legend.setText(f"{swatches} <span style='color: rgb{CONFLICT_COLOUR}'>✕</span> conflict")

    def _clicked(self, event: Any) -> None:
        if self.state.built is None or self.state.image < 0:
            return
        point = self.plot.getViewBox().mapSceneToView(event.scenePos())
        track = self.state.track_near(self.state.image, (point.x(), point.y()))
        if track >= 0:
            self.state.select_track(track)

    # the chosen track
    def _draw_current(self) -> None:
        built, track, image = self.state.built, self.state.track, self.state.image
        if built is None or track < 0:
            self.current_item.clear()
            return
        nodes = built.tracks.nodes(track)
        here = nodes[built.tracks.graph.image[nodes] == image]
        xy = built.tracks.graph.xy[here]
        self.current_item.setData(xy[:, 0], xy[:, 1])

    def _track_changed(self) -> None:
        self._draw_current()
        self._clear_strip()
        built, track = self.state.built, self.state.track
        if built is None or track < 0 or self.run is None:
            self.details.setText("Click a keypoint to see its track." if built is not None else "")
            return
        self.details.setText(self.describe(built, track))
        nodes = built.tracks.nodes(track)
        graph = built.tracks.graph
        jobs = [
            (self._image_path(int(graph.image[n])), graph.xy[n].copy(), bool(built.conflicts.extra[n])) for n in nodes
        ]
        self.patches.submit(self._load_patches, built, track, jobs, self._exif())

    def _load_patches(self, built: RunTracks, track: int, jobs: list, apply_exif: bool) -> tuple[Any, ...]:
        def one(job: tuple[Path | None, np.ndarray, bool]) -> np.ndarray | None:
            path, xy, extra = job
            if path is None:
                return None
            try:
                pixels = self.cache.get(path, apply_exif)
            except ImageLoadError:
                return None
            return mark(patch(pixels, xy), (255, 255, 0), extra)

        # decoding releases the interpreter lock: two decoders halve a long track's wait on two cores
        return built, track, list(self.decoders.map(one, jobs))

    def _patches_loaded(self, _job: int, value: tuple[Any, ...]) -> None:
        built: RunTracks = value[0]
        track, patches = value[1], value[2]
        if built is not self.state.built or track != self.state.track or self.run is None:
            return  # made for another build or track
        self._clear_strip()
        graph = built.tracks.graph
        for node, rgb in zip(built.tracks.nodes(track), patches):
            name = self.run.images[int(graph.image[node])].name
            cell = QLabel()
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if rgb is None:
                cell.setText(f"{escape(name)}\n(no image file)")
            else:
                cell.setPixmap(to_pixmap(rgb))
            caption = QLabel(f"{Path(name).name}\n({graph.xy[node, 0]:.1f}, {graph.xy[node, 1]:.1f})")
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box = QVBoxLayout()
            box.addWidget(cell)
            box.addWidget(caption)
            holder = QWidget()
            holder.setLayout(box)
            holder.setToolTip(name)
            self.strip_layout.insertWidget(self.strip_layout.count() - 1, holder)
        # every patch at full size: a long track scrolls sideways instead of squeezing its patches
        self.strip.setMinimumWidth(self.strip_layout.count() * (2 * PATCH_PX + 2 * self.strip_layout.spacing()))
        self.stripShown.emit(track)

    def _clear_strip(self) -> None:
        while self.strip_layout.count() > 1:
            item = self.strip_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()

    @staticmethod
    def describe_image(built: RunTracks | None, image: int) -> str:
        """The shown image's figures: keypoints in tracks, conflicts, near keypoints, and what the model made of it."""
        if built is None or image < 0:
            return ""
        nodes = built.tracks.nodes_in_image(image)
        conflicting = int(built.conflicts.image[image])
        parts = [f"{len(nodes):,} keypoints in tracks", f"{conflicting:,} conflicting tracks"]
        near = ", ".join(f"{int(counts[image]):,} within {radius:g} px" for radius, counts in built.near.items())
        if near:
            parts.append(f"keypoints near another: {near}")
        found = built.triangulation
        if found is not None:
            if found.registered[image]:
                parts.append(f"registered, {int(found.image_points[image]):,} keypoints triangulated")
            else:
                parts.append(f"not registered; {int(found.correspondences_2d3d[image]):,} 2D-3D correspondences")
        return " · ".join(parts)

    def describe(self, built: RunTracks, track: int) -> str:
        """The track in words (HTML): its keypoints, what the model made of them, and the pairs linking it."""
        assert self.run is not None
        tracks, graph, conflicts, found = built.tracks, built.tracks.graph, built.conflicts, built.triangulation
        nodes, edges = tracks.nodes(track), tracks.edges(track)
        head = f"<b>Track {track}</b>: {tracks.length[track]} images, {len(nodes)} keypoints, {len(edges)} matches"
        if conflicts.track[track]:
            head += (
                f"; <span style='color: rgb{CONFLICT_COLOUR}'>conflicting in {conflicts.track[track]} image(s)</span>"
            )
        lines = [head, "<br>"]
        for node in nodes:
            name = escape(self.run.images[int(graph.image[node])].name)
            text = f"{name} ({graph.xy[node, 0]:.1f}, {graph.xy[node, 1]:.1f}), {tracks.degree[node]} matches"
            if conflicts.extra[node]:
                text = f"<span style='color: rgb{CONFLICT_COLOUR}'>{text}: a second keypoint of this image</span>"
            if found is not None:
                if found.point3d[node] >= 0:
                    text += (
                        f" · 3D point {found.point3d[node]} (track {found.point_length[node]}, "
                        f"error {found.point_error[node]:.2f} px)"
                    )
                elif not found.registered[graph.image[node]]:
                    text += " · image not registered"
                else:
                    text += " · not triangulated"
            lines.append(text + "<br>")
        lines.append("<br><b>Pairs linking it</b> (score):<br>")
        for edge in edges[:MAX_PAIR_LINES]:
            name0, name1 = (escape(n) for n in self.run.pair_names(int(graph.pair[edge])))
            text = f"{name0} – {name1}: {graph.score[edge]:.3f}"
            if conflicts.edge[edge]:
                text = f"<span style='color: rgb{CONFLICT_COLOUR}'>{text} (links a conflicting keypoint)</span>"
            if found is not None and found.edge[edge]:
                text += " · triangulated"
            lines.append(text + "<br>")
        if len(edges) > MAX_PAIR_LINES:
            lines.append(f"… and {len(edges) - MAX_PAIR_LINES} more")
        return "".join(lines)

    def shutdown(self) -> None:
        for runner in (self.images, self.patches):
            runner.cancel()
            runner.shutdown()
        self.decoders.shutdown(wait=False, cancel_futures=True)
