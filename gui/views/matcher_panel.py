"""The Compare matchers panel: tick matchers, run them on the pair, read the table (matcher x matches, verified
inliers, inlier ratio, verdict, pose error, seconds) and show any two as the A/B comparison.

The table shows the figures for the threshold and geometry options on screen; while those changed and the new figures
are being computed, the old ones are greyed and the panel says they are stale.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.analysis.matcher_table import COLUMNS, MatcherRow, TableInputs
from core.matchers.registry import matcher_specs

from ..inspection import InspectionModel
from ..widgets.binding import bind
from ..widgets.controls import show_text

HEADERS = {
    "matcher": "matcher",
    "matches": "matches",
    "inliers": "inliers",
    "inlier_ratio": "inlier %",
    "verdict": "verdict",
    "pose_error_deg": "pose err °",
    "seconds": "s",
    "note": "note",
}
STALE_COLOUR = QColor("#888888")


def describe_inputs(inputs: TableInputs) -> str:
    geometry = inputs.geometry
    fit = "no geometry" if geometry.model == "none" else f"{geometry.model} at {geometry.threshold_px:g} px"
    pose = f"; pose vs {inputs.pose.source}" if inputs.pose is not None and inputs.pose.relative is not None else ""
    return f"threshold {inputs.threshold:.3f}, {fit}{pose}"


class MatcherPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    abRequested = Signal(str, str)  # matcher A, matcher B

    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        state = model.matchers
        self.checks: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        choice = state.choice
        for index, spec in enumerate(matcher_specs()):
            box = QCheckBox(spec.label if spec.available else f"{spec.label} (unavailable)")
            box.setToolTip(spec.reason or f"{spec.label} ({spec.package})")
            box.setEnabled(spec.available)

            def ticked(name: str = spec.name) -> bool:
                return name in choice.matchers

            def tick(on: object, name: str = spec.name) -> None:
                choice.tick(name, bool(on))

            bind(box, choice.events.matchers, ticked, tick)
            self.checks[spec.name] = box
            grid.addWidget(box, index // 2, index % 2)
        self.run_button = QPushButton("Run ticked matchers on this pair")
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([HEADERS[name] for name in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.a_choice = QComboBox()
        self.b_choice = QComboBox()
        self.ab_button = QPushButton("Show as A/B")
        self.ab_button.clicked.connect(
            lambda: self.abRequested.emit(self.a_choice.currentData(), self.b_choice.currentData())
        )
        ab_row = QHBoxLayout()
        ab_row.addWidget(QLabel("A"))
        ab_row.addWidget(self.a_choice, 1)
        ab_row.addWidget(QLabel("B"))
        ab_row.addWidget(self.b_choice, 1)
        ab_row.addWidget(self.ab_button)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addLayout(ab_row)
        state.runs_changed.connect(self.refresh)
        state.table_changed.connect(self.refresh)
        model.threshold_changed.connect(self.refresh)
        model.geometry_options_changed.connect(self.refresh)
        model.pair_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: object) -> None:
        model, state = self.model, self.model.matchers
        inputs = state.inputs(model.threshold, model.geometry_options)
        current = state.current_table(inputs)
        held = current or state.table
        runs = state.held_runs()
        self.run_button.setEnabled(model.has_pair)
        self.cancel_button.setEnabled(state.running is not None)
        lines = []
        if state.running is not None:
            total = len(runs) + len(state.waiting)
            lines.append(f"running {state.running} ({len(runs) + 1} of {total})…")
        if not runs and state.running is None:
            lines.append("Tick matchers and run them to compare them on this pair.")
        elif current is not None:
            lines.append(f"figures for {describe_inputs(inputs)}")
        elif held is None:
            lines.append(f"computing the figures for {describe_inputs(inputs)}…")
        else:
            lines.append(f"stale (shown: {describe_inputs(held.inputs)}); computing for {describe_inputs(inputs)}…")
        show_text(self.status, "\n".join(lines))
        rows = list(held.rows) if held is not None else []
        self._fill(rows, fresh=current is not None)
        self._fill_choices()

    def _fill(self, rows: list[MatcherRow], fresh: bool) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = row.cells()
            cells["matcher"] = row.label
            for c, name in enumerate(COLUMNS):
                item = QTableWidgetItem(cells[name])
                if name not in ("matcher", "verdict", "note"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == "verdict" and row.verdict_label:
                    item.setToolTip(row.verdict_label)
                if name == "note" and cells[name]:
                    item.setToolTip(cells[name])
                if not fresh:
                    item.setForeground(STALE_COLOUR)
                self.table.setItem(r, c, item)

    def _fill_choices(self) -> None:
        runs = self.model.matchers.results()
        names = list(runs)
        for index, box in enumerate((self.a_choice, self.b_choice)):
            held = [box.itemData(i) for i in range(box.count())]
            if held == names:
                continue
            chosen = box.currentData()
            blocked = box.blockSignals(True)
            box.clear()
            for name in names:
                box.addItem(runs[name].label, name)
            if chosen in names:
                box.setCurrentIndex(names.index(chosen))
            elif names:
                box.setCurrentIndex(min(index, len(names) - 1))  # A: the first run, B: the second
            box.blockSignals(blocked)
        self.ab_button.setEnabled(len(names) >= 2)

    def row_texts(self) -> list[list[str]]:
        """The table as shown, cell by cell (tests and scripts)."""
        table = self.table
        return [[_item(table, r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]

    def is_stale(self) -> bool:
        """The rows shown are greyed: figures for other settings than those on screen."""
        return bool(self.table.rowCount()) and _item(self.table, 0, 0).foreground().color() == STALE_COLOUR


def _item(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None
    return item
