"""Sortable table of the visible matches (threshold and box), linked both ways with the view through the model."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from ..inspection import InspectionModel

COLUMNS = ("#", "score", "x0", "y0", "x1", "y1", "res. px")
Index = QModelIndex | QPersistentModelIndex


class MatchTableModel(QAbstractTableModel):
    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.inspection = model
        self.rows = np.zeros(0, dtype=np.int64)  # visible match indices, score order
        self.order = np.zeros(0, dtype=np.int64)  # row -> match index
        self.sort_column, self.sort_order = 1, Qt.SortOrder.DescendingOrder

    def refresh(self) -> None:
        self.beginResetModel()
        self.rows = np.flatnonzero(self.inspection.visible_mask())
        self.order = self.rows.copy()
        self._apply_sort()
        self.endResetModel()

    def _column_values(self, column: int) -> np.ndarray:
        result = self.inspection.result
        assert result is not None
        rows = self.rows
        if column == 0:
            return rows.astype(np.float64)
        if column == 1:
            return result.scores[rows]
        if column in (2, 3):
            return result.kpts0[rows, column - 2]
        if column in (4, 5):
            return result.kpts1[rows, column - 4]
        fit = self.inspection.model_fit()
        if fit is not None:
            return fit.geometry.residuals[rows]
        return np.full(len(rows), np.nan)

    def _apply_sort(self) -> None:
        if self.inspection.result is None or len(self.rows) == 0:
            return
        keys = self._column_values(self.sort_column).astype(np.float64)
        if self.sort_order == Qt.SortOrder.DescendingOrder:
            keys = -keys  # stable either way: equal values keep score order; missing values (NaN) go last
        self.order = self.rows[np.argsort(np.nan_to_num(keys, nan=np.inf), kind="stable")]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self.sort_column, self.sort_order = column, order
        self._apply_sort()
        self.layoutChanged.emit()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal and section == 6:
            return "residual in pixels: symmetric transfer error (H) or Sampson distance (F)"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or self.inspection.result is None:
            return None
        match = int(self.order[index.row()])
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(match)
            value = float(self._value(match, column))
            if np.isnan(value):
                return "–"
            return f"{value:.4f}" if column == 1 else f"{value:.2f}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _value(self, match: int, column: int) -> float:
        result = self.inspection.result
        assert result is not None
        if column == 1:
            return float(result.scores[match])
        if column in (2, 3):
            return float(result.kpts0[match, column - 2])
        if column in (4, 5):
            return float(result.kpts1[match, column - 4])
        fit = self.inspection.model_fit()
        if fit is not None:
            return float(fit.geometry.residuals[match])
        return float("nan")

    def row_of(self, match: int) -> int:
        rows = np.flatnonzero(self.order == match)
        return int(rows[0]) if len(rows) else -1


class MatchTable(QTableView):
    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.inspection = model  # not `model`: QAbstractItemView.model() is Qt's own
        self.model_ = MatchTableModel(model)
        self.setModel(self.model_)
        self.setSortingEnabled(True)
        self.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(200)  # columns sized from a sample of rows: instant at 50k rows
        header.setStretchLastSection(True)
        self._syncing = False
        self.selectionModel().selectionChanged.connect(self._row_selected)
        # Threshold moves arrive many times a second: refresh once they pause, keeping the slider smooth.
        self._refresh_timer = QTimer(self, singleShot=True, interval=80)
        self._refresh_timer.timeout.connect(self.refresh)
        # A new result replaces the rows at once: rows of the old one would index past a shorter new result.
        model.result_changed.connect(self.refresh)
        model.geometry_changed.connect(lambda: self._refresh_timer.start())
        model.visible_changed.connect(lambda: self._refresh_timer.start())
        model.selection_changed.connect(self.show_match)

    @property
    def refresh_pending(self) -> bool:
        return self._refresh_timer.isActive()

    def refresh(self, *_: object) -> None:
        if self.isVisible() or self.inspection.result is None:
            self._syncing = True
            self.model_.refresh()
            self._syncing = False
            self._size_columns()
            self.scrollToTop()  # a new list starts at its head (the selected match, if any, is scrolled to next)
            self.show_match(self.inspection.selected)
        else:
            self._stale = True

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if getattr(self, "_stale", False):
            self._stale = False
            self.refresh()

    def _size_columns(self) -> None:
        """Widths from the widest value each column can show (4- and 5-digit coordinates are never cut off);
        computed from the data with numpy, not by asking the view to measure every row."""
        result = self.inspection.result
        metrics = self.fontMetrics()
        largest = (
            0.0
            if result is None
            else float(max(np.abs(result.kpts0).max(initial=0), np.abs(result.kpts1).max(initial=0)))
        )
        samples = (
            "9" * len(str(max(len(result) if result is not None else 0, 1))),
            "0.00000",
            f"{largest:.2f}",
            f"{largest:.2f}",
            f"{largest:.2f}",
            f"{largest:.2f}",
            "9999.99",
        )
        for column, (name, sample) in enumerate(zip(COLUMNS, samples)):
            width = max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(name)) + 18
            self.setColumnWidth(column, width)

    def _row_selected(self, *_: object) -> None:
        if self._syncing:
            return
        rows = self.selectionModel().selectedRows()
        if rows:
            self.inspection.select(int(self.model_.order[rows[0].row()]))

    def show_match(self, match: int) -> None:
        self._syncing = True
        try:
            row = self.model_.row_of(match) if match >= 0 else -1
            if row < 0:
                self.clearSelection()
            else:
                self.selectRow(row)
                self.scrollTo(self.model_.index(row, 0), QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._syncing = False
