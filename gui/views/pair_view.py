"""Both images in one pan/zoom view with the match lines drawn over them; it only listens to the inspection model.

Lines and keypoints are raster layers (raster_layer.py): a threshold step costs what changed, not what is visible.
Shift-drag on either image selects a box: lines, table and counts then only show matches inside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal

from core.analysis.geometry import transfer
from core.analysis.line_budget import even_subsample
from core.formats.drawing import EPIPOLAR_COLOR, LOST_COLOR, SELECTION_COLOR, Layout, second_image_offset

from ..inspection import InspectionModel, Region, ViewRange
from .heatmap import ambiguity_lookup_table, density_rgba
from .raster_layer import RasterLayer

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

HOVER_TOLERANCE_PX = 6.0
AMBIGUITY_DECADES = 4  # the ambiguity map shows confidence down to 1e-4 of the best cell
FOLLOW_MARGIN = 0.05  # share of the view kept free around a followed match that must fit in it


class _BoxSelectViewBox(pg.ViewBox):
    """A ViewBox where Shift + left drag draws a selection box instead of panning."""

    boxSelected = Signal(object, object)  # two view points (QPointF)

    def __init__(self) -> None:
        super().__init__()
        self.box_item = pg.QtWidgets.QGraphicsRectItem()
        self.box_item.setPen(pg.mkPen(255, 255, 255, 220, width=1.5, style=Qt.PenStyle.DashLine))
        self.box_item.setBrush(pg.mkBrush(255, 255, 255, 25))
        self.box_item.setZValue(30)
        self.box_item.hide()
        self.addItem(self.box_item, ignoreBounds=True)

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or not (ev.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        start, now = self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())
        self.box_item.setRect(QRectF(start, now).normalized())
        self.box_item.show()
        if ev.isFinish():
            self.box_item.hide()
            self.boxSelected.emit(start, now)


class PairView(pg.GraphicsLayoutWidget):
    heatScaleChanged = Signal(object)  # DensityScale of image 0's heat map, or None when it is off

    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        self.setBackground((28, 28, 30))
        self.view = _BoxSelectViewBox()
        self.addItem(self.view)
        self.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self._layout: Layout = "side"  # the layout the images are placed in now (the model's, once resolved)
        self._drawable_for: object = None  # the line subsample the lines were last given
        self.image_items = [pg.ImageItem(), pg.ImageItem()]
        self.heat_items = [pg.ImageItem(), pg.ImageItem()]
        self.overlay_item = pg.ImageItem()
        for item in (*self.image_items, *self.heat_items, self.overlay_item):
            self.view.addItem(item)
        for item in (*self.image_items, self.overlay_item):
            # A 12-megapixel photo is drawn from a screen-sized copy, and a repaint that changes only the lines
            # blits the images from a device-resolution cache instead of scaling them again.
            item.setAutoDownsample(True)
            item.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        for item in self.heat_items:
            item.setZValue(2)
            item.setVisible(False)
        self.overlay_item.setZValue(3)
        self.overlay_item.setVisible(False)
        # Where else the selected match could have matched: its coarse confidence over image 1 (inferno: dark, few;
        # yellow, many), the cell it chose outlined, the separated peaks marked.
        self.ambiguity_item = pg.ImageItem()
        self.ambiguity_item.setZValue(4)
        self.ambiguity_item.setVisible(False)
        self.view.addItem(self.ambiguity_item)
        self.ambiguity_cell = pg.QtWidgets.QGraphicsRectItem()
        self.ambiguity_cell.setPen(pg.mkPen(*SELECTION_COLOR, width=2))
        self.ambiguity_cell.setZValue(16)
        self.ambiguity_cell.hide()
        self.view.addItem(self.ambiguity_cell, ignoreBounds=True)
        self.ambiguity_peaks = pg.ScatterPlotItem(size=18, symbol="x", pen=pg.mkPen(255, 255, 255, width=2), brush=None)
        self.ambiguity_peaks.setZValue(16)
        self.view.addItem(self.ambiguity_peaks, ignoreBounds=True)
        self.lines = RasterLayer("lines")
        self.points = RasterLayer("points")
        self.lines.setZValue(5)
        self.points.setZValue(7)
        self.view.addItem(self.lines, ignoreBounds=True)
        self.view.addItem(self.points, ignoreBounds=True)
        self.region_item = pg.QtWidgets.QGraphicsRectItem()
        self.region_item.setPen(pg.mkPen(255, 255, 255, 230, width=1.5, style=Qt.PenStyle.DashLine))
        self.region_item.setZValue(8)
        self.region_item.hide()
        self.view.addItem(self.region_item, ignoreBounds=True)
        self.lost = RasterLayer("lines")  # run A's matches that B lost (colour mode A/B), in the lost colour
        self.lost.set_colors(np.array([LOST_COLOR], np.uint8), np.zeros(0, np.int16))
        self.lost.setZValue(6)
        self.view.addItem(self.lost, ignoreBounds=True)
        self._lost_for: tuple[object, ...] | None = None
        self._overlay_for: object = None  # the overlay picture the item holds
        self.hover_item = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 255, 230, width=2.5))
        self.selected_item = pg.PlotCurveItem(pen=pg.mkPen(*SELECTION_COLOR, 255, width=3.5))
        self.selected_points = pg.ScatterPlotItem(
            size=14, symbol="o", pen=pg.mkPen(*SELECTION_COLOR, width=2), brush=None
        )
        self.epipolar_item = pg.PlotCurveItem(pen=pg.mkPen(*EPIPOLAR_COLOR, 230, width=2, style=Qt.PenStyle.DashLine))
        self.projection_item = pg.ScatterPlotItem(size=16, symbol="+", pen=pg.mkPen(*EPIPOLAR_COLOR, width=2))
        for z, item in enumerate(
            (
                self.hover_item,
                self.epipolar_item,
                self.projection_item,
                self.selected_item,
                self.selected_points,
            ),
            start=10,
        ):
            item.setZValue(z)
            self.view.addItem(item, ignoreBounds=True)
        self._offset = np.zeros(2)
        self._endpoints = (np.zeros((0, 2)), np.zeros((0, 2)))  # view coordinates of both ends, every match
        self._pending_hover: QPointF | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=15)
        self._hover_timer.timeout.connect(self._apply_hover)
        # The heat map follows the threshold once it pauses: a slider step stays a blit.
        self._heat_timer = QTimer(self, singleShot=True, interval=60)
        self._heat_timer.timeout.connect(self._update_heatmaps)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.view.boxSelected.connect(self._box_selected)
        model.pair_changed.connect(self.refresh_pair)
        model.result_changed.connect(self.refresh_result)
        model.visible_changed.connect(self.refresh_visible)
        model.region_changed.connect(self.refresh_drawable)
        model.selection_changed.connect(self.update_selection)
        model.hover_changed.connect(self.update_hover)
        display = model.display.events
        display.color_mode.connect(self.refresh_colors)
        display.line_budget.connect(self.refresh_drawable)
        display.heatmap.connect(self._update_heatmaps)
        display.ambiguity.connect(self.update_ambiguity)
        for event in (display.line_width, display.opacity, display.show_lines, display.show_markers, display.overlay):
            event.connect(self._style_changed)
        model.overlay_changed.connect(self.update_overlay)
        model.geometry_changed.connect(self.update_overlay)
        for event in (display.overlay, display.overlay_checker, display.overlay_blend):
            event.connect(self.update_overlay)
        view = model.view.events
        view.layout.connect(self._layout_changed)
        view.canvas.connect(self._layout_changed)
        view.range.connect(self._range_changed)
        self.view.sigRangeChanged.connect(self._write_range)
        model.geometry_changed.connect(self._analysis_changed)
        model.comparison_changed.connect(self._analysis_changed)
        model.model_points_changed.connect(self._analysis_changed)
        model.run_a_changed.connect(self._analysis_changed)
        model.ambiguity_changed.connect(self.update_ambiguity)

    # --- layout and images ----------------------------------------------------------------------------------
    @property
    def layout_mode(self) -> Layout:
        """The layout the pair is drawn in: the inspection state's, which the PNG export reads too."""
        return self._layout

    def resolved_layout(self) -> Layout:
        return self.model.layout()

    def image_offset(self) -> np.ndarray:
        image0 = self.model.images[0]
        if image0 is None:
            return np.zeros(2)
        return np.array(second_image_offset(image0.size, self._layout), dtype=np.float64)

    def refresh_pair(self) -> None:
        self._layout = self.model.layout()
        self._offset = self.image_offset()
        for side, item in enumerate(self.image_items):
            image = self.model.images[side]
            if image is None:
                item.clear()
                item.setVisible(False)
                continue
            item.setImage(image.pixels, autoLevels=False, levels=(0, 255))
            dx, dy = (0.0, 0.0) if side == 0 else self._offset
            item.setRect(dx, dy, image.size[1], image.size[0])
            item.setVisible(True)
        self.refresh_result()
        self.fit()

    def fit(self) -> None:
        self.view.autoRange(padding=0.01)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if hasattr(self, "model"):  # pyqtgraph resizes once inside its own constructor
            self.model.view.canvas = (max(self.height(), 1), max(self.width(), 1))

    def _layout_changed(self, *_: object) -> None:
        if self.model.layout() != self._layout:
            self.refresh_pair()

    def _write_range(self, *_: object) -> None:
        (x0, x1), (y0, y1) = self.view.viewRange()
        self.model.view.range = ViewRange(float(x0), float(x1), float(y0), float(y1))

    def _range_changed(self, wanted: ViewRange | None) -> None:
        """Show the range the state holds (a session restores one), unless it is what is shown already."""
        if wanted is None:
            return
        (x0, x1), (y0, y1) = self.view.viewRange()
        if not wanted.close_to(ViewRange(x0, x1, y0, y1)):
            self.view.setRange(xRange=(wanted.x0, wanted.x1), yRange=(wanted.y0, wanted.y1), padding=0)

    # --- lines ----------------------------------------------------------------------------------------------
    def refresh_result(self) -> None:
        result = self.model.result
        self._offset = self.image_offset()
        if result is None or len(result) == 0:
            self._endpoints = (np.zeros((0, 2)), np.zeros((0, 2)))
        else:
            start = result.kpts0.astype(np.float64) + 0.5  # pixel centres
            end = result.kpts1.astype(np.float64) + 0.5 + self._offset
            self._endpoints = (start, end)
        for layer in (self.lines, self.points):
            layer.set_geometry(*self._endpoints)
        self._apply_style()
        self.refresh_colors()
        self.refresh_drawable()
        self.update_selection(self.model.selected)
        self.update_hover(-1)
        self.update_ambiguity()

    def refresh_drawable(self) -> None:
        subsample = self.model.line_subsample()
        self._drawable_for = subsample
        region = self.model.region_mask
        drawable = None if subsample is None else subsample.drawable
        if region is not None:
            drawable = region if drawable is None else drawable & region
        self.lines.set_drawable(drawable)
        self.points.set_drawable(region)
        region_shape = self.model.region
        if region_shape is None:
            self.region_item.hide()
        else:
            dx, dy = (0.0, 0.0) if region_shape.side == 0 else self._offset
            self.region_item.setRect(
                QRectF(
                    region_shape.x0 + dx,
                    region_shape.y0 + dy,
                    region_shape.x1 - region_shape.x0,
                    region_shape.y1 - region_shape.y0,
                )
            )
            self.region_item.show()
        self.refresh_visible()

    def refresh_colors(self) -> None:
        colors = self.model.line_colors()
        if colors is not None:
            self.lines.set_colors(colors.palette, colors.index)
            self.points.set_colors(np.array([[80, 200, 255]], np.uint8), np.zeros(len(colors.index), np.int16))
        self._update_lost_lines()

    def refresh_visible(self) -> None:
        if self.model.line_subsample() is not self._drawable_for:
            self.refresh_drawable()  # the visible matches now fit in the line budget, or no longer do
            return
        count = self.model.prefix_count
        self.lines.set_visible_count(count)
        self.points.set_visible_count(count)
        self._update_lost_lines()
        if self.model.display.heatmap:
            self._heat_timer.start()

    def _apply_style(self) -> None:
        display = self.model.display
        overlay = self.model.overlay_shown()
        self.lines.setVisible(display.show_lines and not overlay)
        self.points.setVisible(display.show_markers or not display.show_lines)
        self.lines.set_style(display.line_width, display.opacity)
        self.points.set_style(display.line_width, 1.0)

    def _style_changed(self, *_: object) -> None:
        self._apply_style()
        self._update_lost_lines()

    def _analysis_changed(self) -> None:
        self.refresh_colors()
        self._apply_style()
        self.update_selection(self.model.selected)

    def _update_lost_lines(self) -> None:
        """Run A's matches that B lost (colour mode A/B), within the line budget like B's lines."""
        model = self.model
        comparison = model.comparison() if model.display.color_mode == "compare" else None
        run_a = model.run_a
        if comparison is None or run_a is None or not self.lines.isVisible():
            self.lost.setVisible(False)
            return
        a = run_a.result
        key = (id(a), tuple(self._offset), model.display.line_budget)
        if key != self._lost_for:
            self._lost_for = key
            self.lost.set_geometry(a.kpts0.astype(np.float64) + 0.5, a.kpts1.astype(np.float64) + 0.5 + self._offset)
            self.lost.set_colors(np.array([LOST_COLOR], np.uint8), np.zeros(len(a), np.int16))
            budget = model.display.line_budget or max(len(a), 1)
            self._lost_budget = even_subsample(a.kpts0, a.image_sizes[0], budget).drawable
        self.lost.set_drawable(comparison.kept_a & ~comparison.shared_a & self._lost_budget)
        self.lost.set_visible_count(len(a))
        self.lost.set_style(model.display.line_width, model.display.opacity)
        self.lost.setVisible(True)

    def lost_line_count(self) -> int:
        return self.lost.drawn_count()

    def drawn_line_count(self) -> int:
        return self.lines.drawn_count()

    # --- heat map -------------------------------------------------------------------------------------------
    def _update_heatmaps(self) -> None:
        model = self.model
        result = model.result
        scale = None
        for side, item in enumerate(self.heat_items):
            image = model.images[side]
            if not model.display.heatmap or image is None or result is None:
                item.setVisible(False)
                continue
            points = (result.kpts0 if side == 0 else result.kpts1)[model.visible_mask()]
            rgba, side_scale = density_rgba(points, image.size)
            scale = scale or side_scale
            item.setImage(rgba, autoLevels=False, levels=(0, 255))
            dx, dy = (0.0, 0.0) if side == 0 else self._offset
            item.setRect(dx, dy, image.size[1], image.size[0])
            item.setVisible(True)
        self.heatScaleChanged.emit(scale)

    # --- ambiguity ------------------------------------------------------------------------------------------
    def update_ambiguity(self) -> None:
        ambiguity = self.model.ambiguity
        shown = ambiguity is not None and self.model.display.ambiguity
        for item in (self.ambiguity_item, self.ambiguity_cell, self.ambiguity_peaks):
            item.setVisible(shown)
        if not shown or ambiguity is None:
            return
        # Four decades below the best cell, on a log scale: confidence falls off by orders of magnitude.
        relative = ambiguity.confidence / max(float(ambiguity.confidence.max()), 1e-30)
        level = np.clip(1 + np.log10(np.maximum(relative, 1e-30)) / AMBIGUITY_DECADES, 0, 1)
        rgba = np.zeros(level.shape + (4,), np.uint8)
        rgba[..., :3] = ambiguity_lookup_table()[(level * 255).astype(np.uint8)]
        rgba[..., 3] = np.where(level > 0, 60 + level * 170, 0).astype(np.uint8)
        cell_w, cell_h = ambiguity.cell_size
        rows, cols = level.shape
        dx, dy = self._offset
        self.ambiguity_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.ambiguity_item.setRect(dx, dy, cols * cell_w, rows * cell_h)
        row, col = ambiguity.chosen_cell
        self.ambiguity_cell.setRect(QRectF(dx + col * cell_w, dy + row * cell_h, cell_w, cell_h))
        centres = (ambiguity.peaks[:, ::-1] + 0.5) * np.array([cell_w, cell_h]) + self._offset
        self.ambiguity_peaks.setData(centres[:, 0], centres[:, 1])

    # --- overlay --------------------------------------------------------------------------------------------
    def update_overlay(self, *_: object) -> None:
        """The overlay picture the state holds, only while it was made from the current result, fit and
        checkerboard choice; the blend is applied here (it changes no picture)."""
        overlay = self.model.current_overlay()
        if overlay is None:
            self.overlay_item.setVisible(False)
            return
        if self._overlay_for is not overlay:  # a blend step changes the opacity, never uploads the picture again
            self._overlay_for = overlay
            self.overlay_item.setImage(overlay.image, autoLevels=False, levels=(0, 255))
            self.overlay_item.setRect(0, 0, overlay.image.shape[1], overlay.image.shape[0])
        display = self.model.display
        self.overlay_item.setOpacity(1.0 if overlay.checker else display.overlay_blend)
        self.overlay_item.setVisible(True)

    # --- hover, selection, box ------------------------------------------------------------------------------
    def _pickable(self) -> np.ndarray:
        """Matches the pointer can pick: the drawn lines, or every visible keypoint in the keypoints-only view."""
        visible = self.model.visible_mask()
        subsample = self.model.line_subsample()
        if self.model.display.show_lines and subsample is not None:
            return np.flatnonzero(visible & subsample.drawable)
        return np.flatnonzero(visible)

    def nearest_match(self, point: QPointF) -> int:
        """The drawn match nearest to a view point, within a few screen pixels; -1 if none."""
        candidates = self._pickable()
        if len(candidates) == 0:
            return -1
        start, end = self._endpoints[0][candidates], self._endpoints[1][candidates]
        p = np.array([point.x(), point.y()])
        if self.model.display.show_lines:
            direction = end - start
            length2 = np.maximum((direction**2).sum(1), 1e-12)
            t = np.clip(((p - start) * direction).sum(1) / length2, 0, 1)
            distance = np.linalg.norm(start + t[:, None] * direction - p, axis=1)
        else:
            distance = np.minimum(np.linalg.norm(start - p, axis=1), np.linalg.norm(end - p, axis=1))
        best = int(np.argmin(distance))
        pixel = self.view.viewPixelSize()
        return int(candidates[best]) if distance[best] <= HOVER_TOLERANCE_PX * max(pixel) else -1

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        self._pending_hover = self.view.mapSceneToView(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _apply_hover(self) -> None:
        if self._pending_hover is not None:
            self.model.hover(self.nearest_match(self._pending_hover))

    def _mouse_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return
        self.model.select(self.nearest_match(self.view.mapSceneToView(event.scenePos())))

    def side_at(self, point: QPointF) -> int | None:
        """Which image a view point lies on, or None."""
        for side, image in enumerate(self.model.images):
            if image is None:
                continue
            dx, dy = (0.0, 0.0) if side == 0 else self._offset
            if dx <= point.x() <= dx + image.size[1] and dy <= point.y() <= dy + image.size[0]:
                return side
        return None

    def _box_selected(self, start: QPointF, end: QPointF) -> None:
        side = self.side_at(start)
        if side is None:
            return
        dx, dy = (0.0, 0.0) if side == 0 else self._offset
        # Drawn coordinates are pixel centres (+0.5); the region is in the image's own pixels.
        a = (start.x() - dx - 0.5, start.y() - dy - 0.5)
        b = (end.x() - dx - 0.5, end.y() - dy - 0.5)
        if abs(a[0] - b[0]) < 1 or abs(a[1] - b[1]) < 1:
            self.model.set_region(None)
            return
        self.model.set_region(Region.spanning(side, a, b))

    def match_view_point(self, index: int, side: int) -> QPointF:
        """Where a match endpoint is drawn, in view coordinates."""
        x, y = self._endpoints[side][index]
        return QPointF(float(x), float(y))

    def update_hover(self, index: int) -> None:
        shown = 0 <= index < len(self._endpoints[0])
        self.hover_item.setVisible(shown)  # empty items still cost a paint each
        if not shown:
            self.hover_item.setData([], [])
            return
        start, end = self._endpoints[0][index], self._endpoints[1][index]
        self.hover_item.setData([start[0], end[0]], [start[1], end[1]])

    def update_selection(self, index: int) -> None:
        self.epipolar_item.setData([], [])
        self.projection_item.setData([], [])
        shown = 0 <= index < len(self._endpoints[0])
        for item in (self.selected_item, self.selected_points, self.epipolar_item, self.projection_item):
            item.setVisible(shown)  # empty items still cost a paint each
        if not shown:
            self.selected_item.setData([], [])
            self.selected_points.setData([], [])
            return
        start, end = self._endpoints[0][index], self._endpoints[1][index]
        self.selected_item.setData([start[0], end[0]], [start[1], end[1]])
        self.selected_points.setData([start[0], end[0]], [start[1], end[1]])
        self._draw_geometry_for(index)

    def follow(self, index: int) -> None:
        """Pan (keeping the zoom) so that both ends of a match are in view, when they are not."""
        if index < 0 or index >= len(self._endpoints[0]):
            return
        (x0, x1), (y0, y1) = self.view.viewRange()
        ends = np.array([self._endpoints[0][index], self._endpoints[1][index]])
        width, height = x1 - x0, y1 - y0
        inside = (ends[:, 0] >= x0) & (ends[:, 0] <= x1) & (ends[:, 1] >= y0) & (ends[:, 1] <= y1)
        if inside.all():
            return  # in view already: leave the view where the user put it
        centre = ends.mean(axis=0)
        span = np.ptp(ends, axis=0)
        if span[0] > width * (1 - 2 * FOLLOW_MARGIN) or span[1] > height * (1 - 2 * FOLLOW_MARGIN):
            centre = ends[0]  # both ends cannot fit at this zoom: show image 0's end
        self.view.setRange(
            xRange=(centre[0] - width / 2, centre[0] + width / 2),
            yRange=(centre[1] - height / 2, centre[1] + height / 2),
            padding=0,
        )

    def _draw_geometry_for(self, index: int) -> None:
        fit = self.model.model_fit()  # a fit called "no model" draws no model
        result = self.model.result
        if fit is None or result is None or fit.geometry.matrix is None:
            return
        if fit.geometry.model == "F":
            segment = self.model.epipolar_segment(index)
            if segment is not None:
                (x0, y0), (x1, y1) = segment
                dx, dy = self._offset + 0.5
                self.epipolar_item.setData([x0 + dx, x1 + dx], [y0 + dy, y1 + dy])
        else:
            projected = transfer(fit.geometry.matrix, result.kpts0[index].astype(np.float64)[None])[0]
            self.projection_item.setData([projected[0] + self._offset[0] + 0.5], [projected[1] + self._offset[1] + 0.5])
