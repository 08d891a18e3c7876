"""Both images in one pan/zoom view with the match lines drawn over them.

Lines are drawn as a few `connect="pairs"` curves, one per colour bucket, never one item per line. Each bucket keeps
its matches in score order; since results are sorted best first, the matches visible at a threshold are the first n
of the result, and in each bucket a prefix (found with searchsorted). Moving the threshold re-sets the data of the
one or two buckets whose prefix changed; the others keep their rasterised cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import QGraphicsItem

from core.drawing import (
    GAINED_COLOR,
    INLIER_COLOR,
    LOST_COLOR,
    OUTLIER_COLOR,
    SHARED_COLOR,
    Layout,
    residual_colors,
    score_colors,
    second_image_offset,
)
from core.geometry import epipolar_line, transfer

from ..state import InspectorState

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

CONFIDENCE_BUCKETS = 16
HOVER_TOLERANCE_PX = 6.0


@dataclass
class _Bucket:
    indices: np.ndarray  # global match indices (score rank), ascending
    xs: np.ndarray  # (2 * len) interleaved endpoints
    ys: np.ndarray
    item: pg.PlotCurveItem
    shown: int = -1


class PairView(pg.GraphicsLayoutWidget):
    def __init__(self, state: InspectorState) -> None:
        super().__init__()
        self.state = state
        self.setBackground((28, 28, 30))
        self.view: pg.ViewBox = self.addViewBox()
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.layout_mode: Layout = "side"
        self.color_mode = "confidence"
        self.line_width = 1.0
        self.opacity = 0.85
        self.show_markers = False
        self.show_heatmap = False
        self.lines_visible = True
        self.image_items = [pg.ImageItem(), pg.ImageItem()]
        self.heat_items = [pg.ImageItem(), pg.ImageItem()]
        self.overlay_item = pg.ImageItem()
        for item in (*self.image_items, *self.heat_items, self.overlay_item):
            self.view.addItem(item)
        for item in self.heat_items:
            item.setZValue(2)
            item.setVisible(False)
        self.overlay_item.setZValue(3)
        self.overlay_item.setVisible(False)
        self.buckets: list[_Bucket] = []
        self._built_for_visible: int | None = None  # visible count the colour groups were made for
        self.marker_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(80, 200, 255, 200))
        self.hover_item = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 255, 230, width=2.5))
        self.selected_item = pg.PlotCurveItem(pen=pg.mkPen(0, 230, 255, 255, width=3.5))
        self.selected_points = pg.ScatterPlotItem(size=14, symbol="o", pen=pg.mkPen(0, 230, 255, width=2), brush=None)
        self.epipolar_item = pg.PlotCurveItem(pen=pg.mkPen(255, 80, 255, 230, width=2, style=Qt.PenStyle.DashLine))
        self.projection_item = pg.ScatterPlotItem(size=16, symbol="+", pen=pg.mkPen(255, 80, 255, width=2))
        # Matches of the A run that the current run lost (colour mode "compare").
        self.lost_item = pg.PlotCurveItem(
            pen=pg.mkPen(*LOST_COLOR, width=1, style=Qt.PenStyle.DashLine), connect="pairs", skipFiniteCheck=True
        )
        self.lost_item.setZValue(6)
        self.view.addItem(self.lost_item)
        for z, item in enumerate(
            (
                self.marker_item,
                self.hover_item,
                self.epipolar_item,
                self.projection_item,
                self.selected_item,
                self.selected_points,
            ),
            start=10,
        ):
            item.setZValue(z)
            self.view.addItem(item)
        self._offset = np.zeros(2)
        self._endpoints = (np.zeros((0, 2)), np.zeros((0, 2)))  # view coordinates of both ends
        self._pending_hover: QPointF | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=15)
        self._hover_timer.timeout.connect(self._apply_hover)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        state.pairChanged.connect(self.refresh_pair)
        state.resultChanged.connect(self.rebuild_lines)
        state.thresholdChanged.connect(self.update_threshold)
        state.selectionChanged.connect(self.update_selection)
        state.hoverChanged.connect(self.update_hover)
        state.geometryChanged.connect(self._geometry_changed)
        state.comparisonChanged.connect(self._comparison_changed)

    # --- images ---------------------------------------------------------------------------------------------
    def image_offset(self) -> np.ndarray:
        image0 = self.state.images[0]
        if image0 is None:
            return np.zeros(2)
        return np.array(second_image_offset(image0.size, self.layout_mode), dtype=np.float64)

    def refresh_pair(self) -> None:
        self._offset = self.image_offset()
        for side, item in enumerate(self.image_items):
            image = self.state.images[side]
            if image is None:
                item.clear()
                item.setVisible(False)
                continue
            item.setImage(image.pixels, autoLevels=False, levels=(0, 255))
            dx, dy = (0.0, 0.0) if side == 0 else self._offset
            item.setRect(dx, dy, image.size[1], image.size[0])
            item.setVisible(True)
        self.overlay_item.setVisible(False)
        self.rebuild_lines()
        self.view.autoRange(padding=0.02)

    def set_layout_mode(self, mode: Layout) -> None:
        if mode != self.layout_mode:
            self.layout_mode = mode
            self.refresh_pair()

    # --- lines ----------------------------------------------------------------------------------------------
    def _bucket_colors(self) -> tuple[list[np.ndarray], list[tuple[int, int, int]]]:
        """Index groups and their colours for the current colour mode."""
        result = self.state.result
        assert result is not None
        n = len(result)
        geometry = self.state.geometry if self.state.geometry_is_current() else None
        if self.color_mode in ("inlier", "residual") and geometry is not None and geometry.ok:
            visible = np.arange(len(geometry.inliers))
            if self.color_mode == "inlier":
                return ([visible[geometry.inliers], visible[~geometry.inliers]], [INLIER_COLOR, OUTLIER_COLOR])
            levels = np.clip(np.nan_to_num(geometry.residuals, nan=1e9) / (2 * geometry.threshold_px), 0, 1)
            bucket = np.minimum((levels * 12).astype(int), 11)
            groups = [visible[bucket == b] for b in range(12)]
            colors = [
                tuple(
                    int(c)
                    for c in residual_colors(
                        np.array([(b + 0.5) / 12 * 2 * geometry.threshold_px]), geometry.threshold_px
                    )[0]
                )
                for b in range(12)
            ]
            return groups, colors  # type: ignore[return-value]
        comparison = self.state.comparison
        n_visible = self.state.visible_count()
        if self.color_mode == "compare" and comparison is not None and len(comparison.shared_b) == n_visible:
            visible = np.arange(len(comparison.shared_b))
            return [visible[comparison.shared_b], visible[~comparison.shared_b]], [SHARED_COLOR, GAINED_COLOR]
        if self.color_mode in ("inlier", "residual", "compare"):
            return [np.arange(n)], [(150, 150, 150)]  # nothing current to colour by: neutral grey
        bucket = np.minimum((np.clip(result.scores, 0, 1) * CONFIDENCE_BUCKETS).astype(int), CONFIDENCE_BUCKETS - 1)
        groups = [np.flatnonzero(bucket == b) for b in range(CONFIDENCE_BUCKETS)]
        centres = (np.arange(CONFIDENCE_BUCKETS) + 0.5) / CONFIDENCE_BUCKETS
        return groups, [tuple(int(v) for v in c) for c in score_colors(centres)]  # type: ignore[misc]

    def rebuild_lines(self) -> None:
        for bucket in self.buckets:
            self.view.removeItem(bucket.item)
        self.buckets = []
        result = self.state.result
        self._offset = self.image_offset()
        if result is None or len(result) == 0:
            self._built_for_visible = None
            self._endpoints = (np.zeros((0, 2)), np.zeros((0, 2)))
            self.marker_item.setData([], [])
            self.update_selection(self.state.selected)
            self.update_hover(-1)
            return
        self._built_for_visible = None if self.color_mode == "confidence" else self.state.visible_count()
        start = result.kpts0.astype(np.float64) + 0.5  # pixel centres
        end = result.kpts1.astype(np.float64) + 0.5 + self._offset
        self._endpoints = (start, end)
        for indices, colour in zip(*self._bucket_colors()):
            if len(indices) == 0:
                continue
            xs = np.empty(2 * len(indices))
            ys = np.empty(2 * len(indices))
            xs[0::2], xs[1::2] = start[indices, 0], end[indices, 0]
            ys[0::2], ys[1::2] = start[indices, 1], end[indices, 1]
            # Opaque pens with the opacity on the item: Qt blends the finished layer once instead of every line
            # (per-line alpha made a 50k-line repaint ~20x slower).
            item = pg.PlotCurveItem(pen=pg.mkPen(*colour, width=self.line_width), connect="pairs", skipFiniteCheck=True)
            item.setOpacity(self.opacity)
            # Separate segments: drawLines() instead of one huge path, which Qt strokes ~30x slower.
            item.setSegmentedLineMode("on")
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            item.setZValue(5)
            self.view.addItem(item)
            self.buckets.append(_Bucket(np.asarray(indices), xs, ys, item))
        self.update_threshold()
        self._update_lost_lines()
        self.update_selection(self.state.selected)

    def update_threshold(self, *_: object) -> None:
        visible = self.state.visible_count()
        if self._built_for_visible is not None and self._built_for_visible != visible:
            # Inlier, residual and A/B colours describe the matches visible when they were computed: regroup
            # (grey until the debounced analysis catches up with the new threshold).
            self.rebuild_lines()
            return
        for bucket in self.buckets:
            shown = int(np.searchsorted(bucket.indices, visible))
            if shown == bucket.shown:
                continue
            bucket.shown = shown
            if shown > 0:
                bucket.item.setData(bucket.xs[: 2 * shown], bucket.ys[: 2 * shown], connect="pairs")
            bucket.item.setVisible(shown > 0 and self.lines_visible)
        self._update_markers(visible)
        if self.show_heatmap:
            self._update_heatmaps(visible)

    def set_lines_visible(self, visible: bool) -> None:
        self.lines_visible = visible
        for bucket in self.buckets:
            bucket.item.setVisible(visible and bucket.shown > 0)
        self._update_lost_lines()

    def set_style(self, width: float | None = None, opacity: float | None = None) -> None:
        if width is not None:
            self.line_width = width
        if opacity is not None:
            self.opacity = opacity
        self.rebuild_lines()

    def set_color_mode(self, mode: str) -> None:
        self.color_mode = mode
        self.rebuild_lines()

    def _comparison_changed(self) -> None:
        if self.color_mode == "compare":
            self.rebuild_lines()

    def _update_lost_lines(self) -> None:
        comparison, reference = self.state.comparison, self.state.reference_run
        if (
            self.color_mode != "compare"
            or comparison is None
            or len(comparison.shared_b) != self.state.visible_count()
            or reference is None
            or not self.lines_visible
        ):
            self.lost_item.setData([], [])
            return
        kept = reference.result.subset(reference.result.keep(reference.threshold))
        lost = ~comparison.shared_a
        start = kept.kpts0[lost].astype(np.float64) + 0.5
        end = kept.kpts1[lost].astype(np.float64) + 0.5 + self._offset
        xs, ys = np.empty(2 * len(start)), np.empty(2 * len(start))
        xs[0::2], xs[1::2] = start[:, 0], end[:, 0]
        ys[0::2], ys[1::2] = start[:, 1], end[:, 1]
        self.lost_item.setData(xs, ys, connect="pairs")

    def lost_line_count(self) -> int:
        xs, _ = self.lost_item.getData()
        return 0 if xs is None else len(xs) // 2

    def _geometry_changed(self) -> None:
        if self.color_mode != "confidence":
            self.rebuild_lines()
        self.update_selection(self.state.selected)

    def drawn_line_count(self) -> int:
        """Lines currently drawn (for tests and the status bar)."""
        return sum(b.shown for b in self.buckets if b.shown > 0 and self.lines_visible)

    # --- markers and heatmaps -------------------------------------------------------------------------------
    def set_markers(self, on: bool) -> None:
        self.show_markers = on
        self._update_markers(self.state.visible_count())

    def _update_markers(self, visible: int) -> None:
        if not self.show_markers or visible == 0:
            self.marker_item.setData([], [])
            return
        start, end = self._endpoints
        points = np.concatenate([start[:visible], end[:visible]])
        self.marker_item.setData(points[:, 0], points[:, 1])

    def set_heatmap(self, on: bool) -> None:
        self.show_heatmap = on
        for item in self.heat_items:
            item.setVisible(on)
        if on:
            self._update_heatmaps(self.state.visible_count())

    def _update_heatmaps(self, visible: int) -> None:
        result = self.state.result
        for side, item in enumerate(self.heat_items):
            image = self.state.images[side]
            if image is None or result is None:
                item.setVisible(False)
                continue
            h, w = image.size
            cell = max(4, max(h, w) // 96)
            points = (result.kpts0 if side == 0 else result.kpts1)[:visible]
            density, _, _ = np.histogram2d(
                points[:, 1], points[:, 0], bins=(max(1, h // cell), max(1, w // cell)), range=((0, h), (0, w))
            )
            import cv2

            density = cv2.GaussianBlur(density.astype(np.float32), (0, 0), 1.5)
            top = float(density.max()) or 1.0
            level = density / top
            rgba = np.zeros(level.shape + (4,), np.uint8)
            rgba[..., 0] = 255
            rgba[..., 1] = (level * 200).astype(np.uint8)
            rgba[..., 3] = (np.sqrt(level) * 170).astype(np.uint8)
            item.setImage(rgba, autoLevels=False, levels=(0, 255))
            dx, dy = (0.0, 0.0) if side == 0 else self._offset
            item.setRect(dx, dy, w, h)
            item.setVisible(True)

    # --- overlay --------------------------------------------------------------------------------------------
    def show_overlay(self, rgb: np.ndarray | None, opacity: float) -> None:
        if rgb is None:
            self.overlay_item.setVisible(False)
            return
        self.overlay_item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(0, 0, rgb.shape[1], rgb.shape[0])
        self.overlay_item.setOpacity(opacity)
        self.overlay_item.setVisible(True)

    # --- hover and selection --------------------------------------------------------------------------------
    def nearest_match(self, point: QPointF) -> int:
        """Index of the visible match line nearest to a view point, within a few screen pixels; -1 if none."""
        visible = self.state.visible_count()
        if visible == 0:
            return -1
        start, end = self._endpoints[0][:visible], self._endpoints[1][:visible]
        p = np.array([point.x(), point.y()])
        direction = end - start
        length2 = np.maximum((direction**2).sum(1), 1e-12)
        t = np.clip(((p - start) * direction).sum(1) / length2, 0, 1)
        distance = np.linalg.norm(start + t[:, None] * direction - p, axis=1)
        best = int(np.argmin(distance))
        pixel = self.view.viewPixelSize()
        tolerance = HOVER_TOLERANCE_PX * max(pixel[0], pixel[1])
        return best if distance[best] <= tolerance else -1

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        self._pending_hover = self.view.mapSceneToView(scene_pos)
        if not self._hover_timer.isActive():
            self._hover_timer.start()

    def _apply_hover(self) -> None:
        if self._pending_hover is not None:
            self.state.hover(self.nearest_match(self._pending_hover))

    def _mouse_clicked(self, event: object) -> None:
        if getattr(event, "button", lambda: None)() != Qt.MouseButton.LeftButton:
            return
        point = self.view.mapSceneToView(event.scenePos())  # type: ignore[attr-defined]
        self.state.select(self.nearest_match(point))

    def match_view_point(self, index: int, side: int) -> QPointF:
        """Where a match endpoint is drawn, in view coordinates (used by tests to click on it)."""
        x, y = self._endpoints[side][index]
        return QPointF(float(x), float(y))

    def update_hover(self, index: int) -> None:
        if index < 0 or index >= len(self._endpoints[0]):
            self.hover_item.setData([], [])
            return
        start, end = self._endpoints[0][index], self._endpoints[1][index]
        self.hover_item.setData([start[0], end[0]], [start[1], end[1]])

    def update_selection(self, index: int) -> None:
        self.epipolar_item.setData([], [])
        self.projection_item.setData([], [])
        if index < 0 or index >= len(self._endpoints[0]):
            self.selected_item.setData([], [])
            self.selected_points.setData([], [])
            return
        start, end = self._endpoints[0][index], self._endpoints[1][index]
        self.selected_item.setData([start[0], end[0]], [start[1], end[1]])
        self.selected_points.setData([start[0], end[0]], [start[1], end[1]])
        self._draw_geometry_for(index)

    def _draw_geometry_for(self, index: int) -> None:
        geometry, result = self.state.geometry, self.state.result
        image1 = self.state.images[1]
        if geometry is None or not geometry.ok or result is None or image1 is None or geometry.matrix is None:
            return
        kpt0 = result.kpts0[index].astype(np.float64)
        if geometry.model == "F":
            a, b, c = epipolar_line(geometry.matrix, kpt0, in_image=1)
            h, w = image1.size
            xs, ys = _clip_line(a, b, c, w, h)
            self.epipolar_item.setData(xs + self._offset[0] + 0.5, ys + self._offset[1] + 0.5)
        else:
            projected = transfer(geometry.matrix, kpt0[None])[0]
            self.projection_item.setData([projected[0] + self._offset[0] + 0.5], [projected[1] + self._offset[1] + 0.5])


def _clip_line(a: float, b: float, c: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Segment of a x + b y + c = 0 inside [0, width] x [0, height] (empty when it misses the image)."""
    points = []
    if abs(b) > 1e-12:
        for x in (0.0, float(width)):
            y = -(a * x + c) / b
            if 0 <= y <= height:
                points.append((x, y))
    if abs(a) > 1e-12:
        for y in (0.0, float(height)):
            x = -(b * y + c) / a
            if 0 <= x <= width:
                points.append((x, y))
    if len(points) < 2:
        return np.zeros(0), np.zeros(0)
    points = sorted(set(points))
    return np.array([points[0][0], points[-1][0]]), np.array([points[0][1], points[-1][1]])
