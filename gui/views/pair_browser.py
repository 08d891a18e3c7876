"""The pair browser (dock content): every pair of a matching run in a sortable, filterable table.

The table reads a Qt-free gui.pair_table.PairTable and keeps no copy. Choosing a row (click, arrow keys, Page Up/Down)
reads that pair from the run and emits `pairChosen(StoredPair)`; a pair that cannot be read emits `pairFailed(str)`.
Our quick check (F by MAGSAC++, overlap, relative pose) and, for hloc files, the match counts run on the project's
background runners (gui.jobs), cancellable; each pair's outcome is queued and folded into the table every 250 ms.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal
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

from core.runs.base import count_pairs
from core.runs.quick_check import check_pairs

from ..inspection import BrowsingContext
from ..jobs import LatestJobRunner
from ..pair_table import COLUMNS, PairTable, emit_pair
from ..widgets.binding import bind

Index = QModelIndex | QPersistentModelIndex
REFRESH_MS = 250  # background outcomes are folded into the table at most this often


class PairTableModel(QAbstractTableModel):
    """Qt's view of a PairTable: row r shows pair table.order[r]."""

    def __init__(self, table: PairTable) -> None:
        super().__init__()
        self.table = table
        table.rows_changed.connect(self._rows_changed)
        table.values_changed.connect(self._values_changed)

    def _rows_changed(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def _values_changed(self) -> None:
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
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.key == "check":
                return self.table.check_messages.get(pair)
            if column.key == "pair":
                return "\n".join(self.table.run.pair_names(pair))  # the full names, however narrow the column
            if column.key == "pose_error":
                return self.table.pose_tooltip(pair)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.table.sort(COLUMNS[column].key, descending=order == Qt.SortOrder.DescendingOrder)

    def pair_at_row(self, row: int) -> int:
        return int(self.table.order[row])


class PairBrowser(QWidget):
    pairChosen = Signal(object)  # core.runs.base.StoredPair
    pairFailed = Signal(str)  # a pair that cannot be read: one line for the user

    def __init__(self, context: BrowsingContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context  # owns the typed focal length; pairs are read through it
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
        self.focal.setKeyboardTracking(False)  # the value counts once typed (Enter or leaving the box), not per digit
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
        # Names cut at the right keep their start readable; the tooltip holds both full names.
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
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
        self.checks = LatestJobRunner("pair-checks")
        self.checks.finished.connect(self._checks_finished)
        self.checks.failed.connect(self._job_failed)
        self.counts = LatestJobRunner("pair-counts")
        self.counts.finished.connect(self._counts_finished)
        self.counts.failed.connect(self._job_failed)
        # Outcomes the jobs append from their threads: (generation, kind, pair index, outcome). A new run or new
        # intrinsics bump the kind's generation, so a stopped job's late outcomes never land on the table.
        self._arrived: deque[tuple[int, str, int, object]] = deque()
        self._generation = {"check": 0, "count": 0}
        self._stop_checks = self._stop_counts = threading.Event()
        self._checked_count = self._todo = 0
        self._counting = self._checking = False
        self._refresh_timer = QTimer(self, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._flush)
        self.check_button.clicked.connect(self.check_visible)
        self.cancel_button.clicked.connect(lambda: self._stop_checks.set())
        bind(
            self.focal,
            context.events.focal_px,
            lambda: context.focal_px,
            lambda value: setattr(context, "focal_px", value),
            to_widget=lambda focal: focal or 0.0,
            from_widget=lambda value: value or None,
        )
        context.events.focal_px.connect(self._focal_changed)

    # the run
    def set_table(self, table: PairTable) -> None:
        """Show a run's pairs (any previous run's checks are cancelled)."""
        self.clear()
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
        table.rows_changed.connect(self._rows_changed)
        uncounted = table.run.uncounted()
        self._counting = bool(len(uncounted))
        if self._counting:  # hloc files: counts are read after opening, in the background
            self._stop_counts = stop = threading.Event()
            self.counts.submit(count_pairs, table.run, uncounted, self._collector("count"), stop.is_set)
            self._refresh_timer.start()
        self._update_status()

    def clear(self) -> None:
        """Show no run: its background counts and checks stop and their late outcomes are dropped."""
        self._stop_counts.set()
        self._generation["count"] += 1
        self._counting = False
        self._drop_checks()
        self._arrived.clear()
        if self.table is not None:
            self.table.rows_changed.disconnect(self._rows_changed)
        self.table = self.model = None
        self.view.setModel(None)
        self.current_pair = None
        self.status.setText("no matching run open")

    def _rows_changed(self) -> None:
        self._update_status()
        if self.current_pair is not None:  # keep the current pair selected across sorts and filters
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
        emit_pair(self.context.read_pair, index, self.pairChosen, self.pairFailed)

    # filtering
    def _apply_filter(self) -> None:
        if self.table is None:
            return
        limit = self.inlier_filter.value()
        self.table.set_filter(limit if limit > 0 else None, self.name_filter.text())

    def _focal_changed(self) -> None:
        """New intrinsics change every pose: drop the checks made with the old ones."""
        if self.table is None or self.context.run is None:  # no run open: nothing was checked with them
            return
        self._drop_checks()
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
        self._stop_checks = stop = threading.Event()
        self.checks.submit(
            check_pairs,
            self.table.run,
            todo,
            self._collector("check"),
            stop.is_set,
            self.table.reference,
            self.context.focal_px,
        )
        self._checking = True
        self.cancel_button.setEnabled(True)
        self.check_button.setEnabled(False)
        self._refresh_timer.start()
        self._update_status()

    def _drop_checks(self) -> None:
        """Stop a running check and forget what it has not delivered yet."""
        self._stop_checks.set()
        self.checks.cancel()
        self._generation["check"] += 1
        self._checking = False
        self.cancel_button.setEnabled(False)
        self.check_button.setEnabled(True)

    def _collector(self, kind: str) -> Any:
        """The on_result callback for a job: queue the outcome (called on the job's thread; no Qt there)."""
        generation, arrived = self._generation[kind], self._arrived
        return lambda index, outcome: arrived.append((generation, kind, index, outcome))

    def _flush(self) -> None:
        """Fold the queued outcomes into the table, then refresh it once."""
        if self.table is None:
            return
        changed = False
        while self._arrived:
            generation, kind, index, outcome = self._arrived.popleft()
            if generation != self._generation[kind]:
                continue
            changed = True
            if kind == "check":
                self.table.set_check(index, outcome, refresh=False)  # type: ignore[arg-type]
                self._checked_count += 1
            elif isinstance(outcome, str):  # a count that could not be read
                self.table.check_messages[index] = outcome
        if changed:
            self.table.refresh()
        if not (self._checking or self._counting):
            self._refresh_timer.stop()

    def _checks_finished(self, job: int, _value: object) -> None:
        if self.checks.superseded(job):
            return
        self._checking = False
        self._flush()
        self.cancel_button.setEnabled(False)
        self.check_button.setEnabled(True)
        self._update_status("check cancelled" if self._stop_checks.is_set() else "")

    def _counts_finished(self, job: int, _value: object) -> None:
        if self.counts.superseded(job):
            return
        self._counting = False
        self._flush()
        self._update_status()

    def _job_failed(self, _job: int, message: str) -> None:
        self._checking = self._counting = False
        self.cancel_button.setEnabled(False)
        self.check_button.setEnabled(True)
        self._update_status(message)

    def _update_status(self, note: str = "") -> None:
        if self.table is None:
            return
        parts = [f"showing {len(self.table.order)} of {len(self.table)} pairs"]
        if self.counting:
            parts.append(f"counting matches: {len(self.table) - len(self.table.run.uncounted())} of {len(self.table)}")
        if self._checking:
            parts.append(f"checking {self._checked_count} of {self._todo}…")
        summary = self.table.pose_summary()
        if summary.auc is not None or (self.table.reference is not None and self.table.checked_count()):
            parts.append(summary.describe())
        if note:
            parts.append(note)
        self.status.setText(" · ".join(parts))

    @property
    def counting(self) -> bool:
        return self._counting

    def shutdown(self) -> None:
        """Call when the browser goes away: stops the background work (no signal comes after this)."""
        self._stop_checks.set()
        self._stop_counts.set()
        for runner in (self.checks, self.counts):
            runner.cancel()
            runner.shutdown()
