"""The pair browser (dock content): every pair of a matching run in a sortable, filterable table.

The table reads a Qt-free gui.pair_table.PairTable and keeps no copy. Choosing a row (click, arrow keys, Page Up/Down)
reads that pair from the run and emits `pairChosen(StoredPair)`; a pair that cannot be read emits `pairFailed(str)`.
Our quick check (F by MAGSAC++, overlap, relative pose) runs on a background thread, cancellable, and fills its
columns as results arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.matching_run import RunOpenError, count_pairs
from core.quick_check import check_pairs

from ..pair_table import COLUMNS, PairTable

Index = QModelIndex | QPersistentModelIndex
REFRESH_MS = 250  # quick-check results are folded into the table at most this often


class PairTableModel(QAbstractTableModel):
    """Qt's view of a PairTable: row r shows pair table.order[r]."""

    def __init__(self, table: PairTable) -> None:
        super().__init__()
        self.table = table
        table.subscribe(self._changed)

    def _changed(self, event: str) -> None:
        if event == "rows":
            self.beginResetModel()
            self.endResetModel()
        else:
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.table.order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].key == "inliers":
            return "verified inliers stored in the run, else our quick check's F inliers"
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = COLUMNS[index.column()]
        pair = int(self.table.order[index.row()])
        if role == Qt.ItemDataRole.DisplayRole:
            return self.table.display(pair, column.key)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column.key == "check":
            return self.table.check_messages.get(pair)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.table.sort(COLUMNS[column].key, descending=order == Qt.SortOrder.DescendingOrder)

    def pair_at_row(self, row: int) -> int:
        return int(self.table.order[row])


PairJob = Callable[[Callable[[int, object], None], Callable[[], bool]], None]  # (on_result, cancelled) -> None


class PairJobRunner(QObject):
    """Runs a per-pair job (core.quick_check.check_pairs, core.matching_run.count_pairs) on a daemon thread.

    A new start or cancel() stops the previous run; results carry the run id so a cancelled run's last one is dropped.
    """

    result = Signal(int, int, object)  # run id, pair index, outcome
    finished = Signal(int, bool)  # run id, cancelled

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._cancel = threading.Event()
        self._run_id = 0
        self._thread: threading.Thread | None = None

    def start(self, job: PairJob) -> int:
        self.cancel()
        self._run_id += 1
        run_id, cancel = self._run_id, threading.Event()
        self._cancel = cancel

        def work() -> None:
            try:
                job(lambda index, outcome: self.result.emit(run_id, index, outcome), cancel.is_set)
            finally:
                self.finished.emit(run_id, cancel.is_set())

        self._thread = threading.Thread(target=work, name=self.name, daemon=True)
        self._thread.start()
        return run_id

    def cancel(self) -> None:
        self._cancel.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Cancel and wait for the pair in hand, so no signal outlives the window."""
        self.cancel()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def run_id(self) -> int:
        return self._run_id


class PairBrowser(QWidget):
    pairChosen = Signal(object)  # core.matching_run.StoredPair
    pairFailed = Signal(str)  # a pair that cannot be read: one line for the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table: PairTable | None = None
        self.model: PairTableModel | None = None
        self.current_pair: int | None = None
        self._emit_choices = True

        self.name_filter = QLineEdit(placeholderText="name contains…", clearButtonEnabled=True)
        self.inlier_filter = QSpinBox(minimum=0, maximum=1_000_000, value=0, suffix=" inliers")
        self.inlier_filter.setPrefix("fewer than ")
        self.inlier_filter.setSpecialValueText("any inliers")
        self.check_button = QPushButton("Check visible pairs")
        self.check_button.setToolTip("F by MAGSAC++, overlap and relative pose for every pair shown, in the background")
        self.focal = QDoubleSpinBox(minimum=0.0, maximum=100_000.0, decimals=1, singleStep=10.0)
        self.focal.setSpecialValueText("focal: from the run / EXIF")
        self.focal.setPrefix("focal ")
        self.focal.setSuffix(" px")
        self.focal.setToolTip("a focal length in pixels for every image, for the relative pose (0: the run's cameras)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.status = QLabel("no matching run open")
        self.status.setWordWrap(True)
        self.view = QTableView()
        self.view.setSortingEnabled(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # image names differ at their ends
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.horizontalHeader().setStretchLastSection(True)

        filters = QHBoxLayout()
        filters.addWidget(self.name_filter, 2)
        filters.addWidget(self.inlier_filter, 1)
        checks = QHBoxLayout()
        checks.addWidget(self.check_button)
        checks.addWidget(self.cancel_button)
        checks.addStretch(1)
        checks.addWidget(self.focal)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(filters)
        layout.addWidget(self.view, 1)
        layout.addLayout(checks)
        layout.addWidget(self.status)

        self._filter_timer = QTimer(self, singleShot=True, interval=120)  # typing pauses, then one filter pass
        self._filter_timer.timeout.connect(self._apply_filter)
        self.name_filter.textChanged.connect(lambda *_: self._filter_timer.start())
        self.inlier_filter.valueChanged.connect(lambda *_: self._filter_timer.start())
        self.checks = PairJobRunner("pair-checks")
        self.checks.result.connect(self._checked)
        self.checks.finished.connect(self._checks_finished)
        self.counts = PairJobRunner("pair-counts")
        self.counts.result.connect(self._counted)
        self.counts.finished.connect(self._counts_finished)
        self._dirty = False
        self._checked_count = self._todo = 0
        self._counting = False
        self._refresh_timer = QTimer(self, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._flush)
        self.check_button.clicked.connect(self.check_visible)
        self.cancel_button.clicked.connect(self.checks.cancel)
        self.focal.editingFinished.connect(self._focal_changed)

    # the run
    def set_table(self, table: PairTable) -> None:
        """Show a run's pairs (any previous run's checks are cancelled)."""
        self.checks.cancel()
        self.counts.cancel()
        self.table = table
        self.model = PairTableModel(table)
        self.view.setModel(self.model)
        self.view.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        metrics = self.view.fontMetrics()  # widths from the titles: sizing to contents would read every row
        self.view.setColumnWidth(0, 240)
        for column, spec in enumerate(COLUMNS[1:], start=1):
            sample = "no overlap found" if spec.key == "overlap" else spec.title
            self.view.setColumnWidth(column, metrics.horizontalAdvance(sample) + 28)
        self.view.selectionModel().currentRowChanged.connect(self._row_changed)
        table.subscribe(self._rows_changed)
        self.current_pair = None
        self.focal.setValue(table.run.focal_px or 0.0)
        uncounted = table.run.uncounted()
        self._counting = bool(len(uncounted))
        if self._counting:  # hloc files: counts are read after opening, in the background
            run = table.run
            self.counts.start(lambda on_result, cancelled: count_pairs(run, uncounted, on_result, cancelled))
            self._refresh_timer.start()
        self._update_status()

    def _rows_changed(self, event: str) -> None:
        if event == "rows":  # keep the current pair selected across sorts and filters
            self._update_status()
            if self.current_pair is not None:
                self.select_pair(self.current_pair, emit=False)

    def select_pair(self, index: int, emit: bool = True) -> bool:
        """Make pair `index` the current row (False when the filter hides it); emits pairChosen when asked."""
        if self.table is None or self.model is None:
            return False
        row = self.table.position_of(index)
        if row is None:
            return False
        already_current = self.current_pair == index
        self._emit_choices = emit
        try:
            self.view.setCurrentIndex(self.model.index(row, 0))
            self.view.scrollTo(self.model.index(row, 0))
        finally:
            self._emit_choices = True
        if emit and already_current:  # no row change to trigger it: choose it again
            self._open(index)
        return True

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.model is None or not current.isValid():
            return
        index = self.model.pair_at_row(current.row())
        if index == self.current_pair:
            return
        self.current_pair = index
        if self._emit_choices:
            self._open(index)

    def _open(self, index: int) -> None:
        assert self.table is not None
        try:
            pair = self.table.open_pair(index)
        except RunOpenError as exc:
            self.pairFailed.emit(str(exc))
            return
        self.pairChosen.emit(pair)

    # filtering
    def _apply_filter(self) -> None:
        if self.table is None:
            return
        limit = self.inlier_filter.value()
        self.table.set_filter(limit if limit > 0 else None, self.name_filter.text())

    def _focal_changed(self) -> None:
        """New intrinsics change every pose: drop the checks made with the old ones."""
        if self.table is None:
            return
        focal = self.focal.value() or None
        if focal == self.table.run.focal_px:
            return
        self.checks.cancel()
        self.table.run.focal_px = focal
        self.table.clear_checks()
        if self.current_pair is not None:
            self._open(self.current_pair)

    # quick checks
    def check_visible(self) -> None:
        if self.table is None:
            return
        todo = self.table.unchecked(self.table.order)
        if not len(todo):
            self._update_status("every pair shown is checked")
            return
        self._checked_count, self._todo = 0, len(todo)
        run, reference = self.table.run, self.table.reference
        self.checks.start(lambda on_result, cancelled: check_pairs(run, todo, on_result, cancelled, reference))
        self.cancel_button.setEnabled(True)
        self.check_button.setEnabled(False)
        self._refresh_timer.start()
        self._update_status()

    def _checked(self, run_id: int, index: int, outcome: object) -> None:
        if run_id != self.checks.run_id or self.table is None:
            return  # a cancelled run's last result
        self.table.set_check(index, outcome, refresh=False)  # type: ignore[arg-type]
        self._checked_count += 1
        self._dirty = True

    def _counted(self, run_id: int, index: int, outcome: object) -> None:
        if run_id != self.counts.run_id or self.table is None:
            return
        if isinstance(outcome, str):
            self.table.check_messages[index] = outcome
        self._dirty = True  # the reader stored the count in the run's pair rows

    def _counts_finished(self, run_id: int, cancelled: bool) -> None:
        if run_id != self.counts.run_id:
            return
        self._counting = False
        if not self.cancel_button.isEnabled():
            self._refresh_timer.stop()
        self._flush()
        self._update_status()

    def _flush(self) -> None:
        if self._dirty and self.table is not None:
            self._dirty = False
            self.table.refresh()

    def _checks_finished(self, run_id: int, cancelled: bool) -> None:
        if run_id != self.checks.run_id:
            return
        if not self.counting:
            self._refresh_timer.stop()
        self._flush()
        self.cancel_button.setEnabled(False)
        self.check_button.setEnabled(True)
        self._update_status("check cancelled" if cancelled else "")

    def _update_status(self, note: str = "") -> None:
        if self.table is None:
            return
        parts = [f"showing {len(self.table.order)} of {len(self.table)} pairs"]
        if self.counting:
            parts.append(f"counting matches: {len(self.table) - len(self.table.run.uncounted())} of {len(self.table)}")
        if self.cancel_button.isEnabled():
            parts.append(f"checking {self._checked_count} of {self._todo}…")
        auc = self.table.pose_auc()
        if auc is not None:
            parts.append("pose AUC@5/10/20: " + " / ".join(f"{100 * v:.1f}" for v in auc))
        if note:
            parts.append(note)
        self.status.setText(" · ".join(parts))

    @property
    def counting(self) -> bool:
        return self._counting

    def shutdown(self) -> None:
        """Call when the browser goes away: stops the background work."""
        self.checks.stop()
        self.counts.stop()
