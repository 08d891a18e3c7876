"""Image x image heat map of a matching run: one cell per pair, coloured by its inlier (or match) count.

Isolated images show as empty rows; suspicious pairs as dark cells among bright ones. Colours use a log scale (counts
span 0 to thousands); cells without a pair, or whose value is unknown, stay transparent. Clicking a cell reads that
pair and emits `pairChosen(StoredPair)`; hovering names it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..inspection import BrowsingContext
from ..pair_table import PairTable, emit_pair

LEGEND = "log scale: dark = few, yellow = many; empty = not matched or unknown"
VALUES = {"inliers": "Inliers", "matches": "Raw matches", "check": "Our check (F inliers)"}
NAMED_TICKS = 24  # up to this many images, the left axis names them; beyond, both axes count
TICK_CHARS = 18


def tick_name(index: int, name: str) -> str:
    """`index: name`, the name cut at the right (its start says which scene it is)."""
    return f"{index}: {name if len(name) <= TICK_CHARS else name[: TICK_CHARS - 1] + '…'}"


def heat_colors(values: np.ndarray, rows: np.ndarray, columns: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 4) uint8 RGBA: each pair's value at (row, column) and (column, row) on a log scale.

    Cells without a pair, or with an unknown (NaN) value, stay transparent. Only the pairs' cells are coloured, so
    a sparse 1,000 x 1,000 matrix costs its 20,000 pairs, not its million cells.
    """
    rgba = np.zeros((size, size, 4), np.uint8)
    known = ~np.isnan(values)
    if not known.any():
        return rgba
    values, rows, columns = values[known], rows[known], columns[known]
    top = float(values.max())
    scaled = np.log1p(np.maximum(values, 0)) / np.log1p(top) if top > 0 else np.zeros(len(values))
    table = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=True)
    colors = table[np.clip((scaled * 255).astype(np.int64), 0, 255)]
    rgba[rows, columns] = colors
    rgba[columns, rows] = colors
    return rgba


class PairMatrix(QWidget):
    pairChosen = Signal(object)  # core.runs.base.StoredPair
    pairFailed = Signal(str)

    def __init__(self, context: BrowsingContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context  # pairs are read through it (it passes the typed focal length)
        self.table: PairTable | None = None
        self.value_choice = QComboBox()
        for key, title in VALUES.items():
            self.value_choice.addItem(title, key)
        self.hover = QLabel(LEGEND)
        self.hover.setWordWrap(True)  # a long line would set the dock's (and the window's) minimum width
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)  # image 0 at the top, as in a table
        self.plot.setLabel("left", "image")
        self.plot.setLabel("bottom", "image index")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.marker = pg.ScatterPlotItem(size=10, pen=pg.mkPen("r", width=2), brush=None, symbol="s")
        self.plot.addItem(self.marker)
        self.image.mouseClickEvent = self._clicked  # type: ignore[method-assign]
        self.image.hoverEvent = self._hovered  # type: ignore[method-assign]
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Colour by"))
        controls.addWidget(self.value_choice)
        controls.addWidget(self.hover, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        self.value_choice.currentIndexChanged.connect(lambda *_: self.redraw())

    def set_table(self, table: PairTable) -> None:
        self.clear()
        self.table = table
        table.values_changed.connect(self.redraw)
        self._label_axes()
        self.redraw()
        self.plot.autoRange()

    def clear(self) -> None:
        """Show no run (the run was closed)."""
        if self.table is not None:
            self.table.values_changed.disconnect(self.redraw)
        self.table = None
        self.image.clear()
        self.marker.clear()

    def _label_axes(self) -> None:
        assert self.table is not None
        names = [image.name for image in self.table.run.images]
        left = self.plot.getAxis("left")
        if len(names) <= NAMED_TICKS:
            left.setTicks([[(i, tick_name(i, name)) for i, name in enumerate(names)]])
            self.plot.setLabel("left", "image")
        else:
            left.setTicks(None)
            self.plot.setLabel("left", "image index")

    @property
    def value_key(self) -> str:
        return str(self.value_choice.currentData())

    def redraw(self) -> None:
        if self.table is None:
            return
        pairs = self.table.run.pairs
        values = self.table.sort_values(self.value_key)
        n = len(self.table.run.images)
        self.image.setImage(heat_colors(values, pairs.image0, pairs.image1, n), autoLevels=False)
        self.image.setRect(QRectF(-0.5, -0.5, n, n))  # cell i centred on i: integer ticks name images

    def _cell(self, event: Any) -> tuple[int, int] | None:
        position = event.pos()
        row, column = int(np.floor(position.y())), int(np.floor(position.x()))
        n = len(self.table.run.images) if self.table is not None else 0
        return (row, column) if 0 <= row < n and 0 <= column < n else None

    def _clicked(self, event: Any) -> None:
        cell = self._cell(event)
        if cell is None or self.table is None:
            return
        index = self.table.pair_at(*cell)
        if index is None:
            return
        event.accept()
        self.show_pair(index)
        emit_pair(self.context.read_pair, index, self.pairChosen, self.pairFailed)

    def _hovered(self, event: Any) -> None:
        if event.isExit() or self.table is None:
            self.hover.setText(LEGEND)
            return
        cell = self._cell(event)
        if cell is None:
            return
        images = self.table.run.images
        text = f"{images[cell[0]].name}  ↔  {images[cell[1]].name}"
        index = self.table.pair_at(*cell)
        if index is None:
            self.hover.setText(text + ": not matched")
        else:
            self.hover.setText(f"{text}: {self.table.display(index, self.value_key)} ({VALUES[self.value_key]})")

    def show_pair(self, index: int) -> None:
        """Mark a pair's two cells (e.g. the one chosen in the browser)."""
        if self.table is None:
            return
        i, j = int(self.table.run.pairs.image0[index]), int(self.table.run.pairs.image1[index])
        self.marker.setData([j, i], [i, j])
