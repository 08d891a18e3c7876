"""Match lines (or keypoints) rasterised once per view transform and then updated by what changed.

Results are sorted best first, so the lines visible at a threshold are the drawable ones below a prefix count.
The layer keeps a device-resolution image of the lines drawn so far. Lowering the threshold draws only the newly
visible lines onto it; raising it restores the nearest snapshot taken on the way up and draws the few lines since.
A repaint then costs one image blit, whatever the number of lines; a pan or zoom re-renders the drawable lines once.
Painting into anything but the cached target (a grab, an export) draws directly, uncached.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets, internals

MAX_SNAPSHOTS = 16
MIN_SNAPSHOT_STEP = 128  # primitives between snapshots: stepping back redraws at most this many

Kind = Literal["lines", "points"]


class RasterLayer(QtWidgets.QGraphicsObject):
    def __init__(self, kind: Kind) -> None:
        super().__init__()
        self.kind = kind
        self._starts = np.zeros((0, 2))
        self._ends = np.zeros((0, 2))
        self._palette = np.zeros((1, 3), np.uint8)
        self._color_index = np.zeros(0, np.int16)
        self._order = np.zeros(0, np.int64)  # drawable match indices, ascending
        self._visible_count = 0  # prefix of the result that passes the threshold
        self._width = 1.0
        self._opacity = 1.0
        self._bounds = QtCore.QRectF()
        self._cache: QtGui.QImage | None = None
        self._cache_key: tuple[Any, ...] | None = None
        self._cache_position = 0  # how many of `_order` the cache holds
        self._snapshots: list[tuple[int, QtGui.QImage]] = []
        self._primitives = internals.PrimitiveArray(
            QtCore.QLineF if kind == "lines" else QtCore.QPointF, 4 if kind == "lines" else 2
        )
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity, False)

    # --- data ---------------------------------------------------------------------------------------------
    def set_geometry(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """View coordinates of both ends of every match (points: `ends` is ignored, both ends are drawn)."""
        self.prepareGeometryChange()
        self._starts, self._ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
        if len(self._starts):
            low = np.minimum(self._starts.min(axis=0), self._ends.min(axis=0))
            high = np.maximum(self._starts.max(axis=0), self._ends.max(axis=0))
            self._bounds = QtCore.QRectF(low[0] - 2, low[1] - 2, high[0] - low[0] + 4, high[1] - low[1] + 4)
        else:
            self._bounds = QtCore.QRectF()
        self._invalidate()

    def set_colors(self, palette: np.ndarray, index: np.ndarray) -> None:
        self._palette, self._color_index = np.asarray(palette, np.uint8), np.asarray(index, np.int16)
        self._invalidate()

    def set_drawable(self, drawable: np.ndarray | None) -> None:
        """Which matches may be drawn (line budget, box selection); None: all."""
        n = len(self._starts)
        order = np.arange(n) if drawable is None else np.flatnonzero(drawable)
        if len(order) == len(self._order) and np.array_equal(order, self._order):
            return  # the same lines: the cache stays
        self._order = order
        self._invalidate()

    def set_visible_count(self, count: int) -> None:
        if count != self._visible_count:
            self._visible_count = count
            self.update()

    def set_style(self, width: float, opacity: float) -> None:
        if width != self._width:
            self._width = width
            self._invalidate()
        if opacity != self._opacity:
            self._opacity = opacity
            self.update()

    def drawn_count(self) -> int:
        """Lines (or matches, for points) drawn at the current visible count."""
        return 0 if not self.isVisible() else self._position()

    def _position(self) -> int:
        return int(np.searchsorted(self._order, self._visible_count))

    def _invalidate(self) -> None:
        self._cache_key = None
        self.update()

    # --- QGraphicsItem --------------------------------------------------------------------------------------
    def boundingRect(self) -> QtCore.QRectF:
        return self._bounds

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        target = self._position()
        if target == 0:
            return
        device = painter.device()
        # Item to logical device coordinates, without a grab's redirection offset (which the paint engine adds to
        # the cached image too) or the device pixel ratio (which the cache image carries itself).
        transform = painter.combinedTransform()
        cacheable = widget is not None and device is not None and device.devType() == 1  # QInternal::Widget
        if not cacheable:  # a grab or an export: draw in item coordinates with cosmetic pens
            painter.save()
            painter.setOpacity(painter.opacity() * self._opacity)
            self._draw(painter, 0, target, None)
            painter.restore()
            return
        ratio = device.devicePixelRatioF()
        size = QtCore.QSize(int(device.width() * ratio), int(device.height() * ratio))
        key = (
            transform.m11(),
            transform.m12(),
            transform.m21(),
            transform.m22(),
            transform.dx(),
            transform.dy(),
            size.width(),
            size.height(),
            ratio,
        )
        if key != self._cache_key or self._cache is None:
            self._cache = QtGui.QImage(size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
            self._cache.setDevicePixelRatio(ratio)
            self._cache.fill(0)
            self._cache_key, self._cache_position, self._snapshots = key, 0, []
        self._advance(target, transform)
        painter.save()
        painter.resetTransform()
        painter.setOpacity(painter.opacity() * self._opacity)
        painter.drawImage(QtCore.QPointF(0, 0), self._cache)
        painter.restore()

    def _advance(self, target: int, transform: QtGui.QTransform) -> None:
        """Bring the cached image to hold exactly the first `target` drawable primitives."""
        assert self._cache is not None
        if target < self._cache_position:
            usable = [s for s in self._snapshots if s[0] <= target]
            position, image = usable[-1] if usable else (0, None)
            self._snapshots = [s for s in self._snapshots if s[0] <= position]
            if image is None:
                self._cache.fill(0)
            else:
                self._cache = image.copy()
            self._cache_position = position
        step = max(MIN_SNAPSHOT_STEP, -(-len(self._order) // MAX_SNAPSHOTS))
        while self._cache_position < target:
            stop = min(target, (self._cache_position // step + 1) * step)
            painter = QtGui.QPainter(self._cache)
            self._draw(painter, self._cache_position, stop, transform)
            painter.end()
            self._cache_position = stop
            if stop % step == 0 and (not self._snapshots or self._snapshots[-1][0] < stop):
                self._snapshots.append((stop, self._cache.copy()))

    def _draw(self, painter: QtGui.QPainter, start: int, stop: int, transform: QtGui.QTransform | None) -> None:
        """Draw drawable primitives [start, stop), one pen per colour: mapped to the cache's pixels by
        `transform`, or (None) in item coordinates through the painter's own transform."""
        rows = self._order[start:stop]
        starts, ends = self._starts[rows], self._ends[rows]
        if transform is not None:
            m = np.array([[transform.m11(), transform.m12()], [transform.m21(), transform.m22()]])
            offset = np.array([transform.dx(), transform.dy()])
            starts, ends = starts @ m + offset, ends @ m + offset
        # No antialiasing: thin lines stay crisp, and long lines draw several times faster.
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        colors = self._color_index[rows] if len(self._color_index) == len(self._starts) else np.zeros(len(rows), int)
        for color in np.unique(colors):
            chosen = colors == color
            r, g, b = (int(c) for c in self._palette[min(int(color), len(self._palette) - 1)])
            pen = QtGui.QPen(QtGui.QColor(r, g, b))
            pen.setCosmetic(True)  # widths in screen pixels, whatever the zoom
            pen.setWidthF(self._width if self.kind == "lines" else max(3.0, 3 * self._width))
            pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap if self.kind == "points" else QtCore.Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            count = int(chosen.sum())
            if self.kind == "lines":
                self._primitives.resize(count)
                memory = self._primitives.ndarray()
                memory[:, 0:2] = starts[chosen]
                memory[:, 2:4] = ends[chosen]
                painter.drawLines(*self._primitives.drawargs())
            else:
                self._primitives.resize(2 * count)
                memory = self._primitives.ndarray()
                memory[:count] = starts[chosen]
                memory[count:] = ends[chosen]
                painter.drawPoints(*self._primitives.drawargs())
