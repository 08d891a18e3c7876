"""Colour legend for the match lines (gradient or swatches: core.formats.drawing.LegendSpec) and the heat-map scale."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QWidget

from core.analysis.geometry import Assessment
from core.formats.drawing import LegendSpec

ROW = 34


class Legend(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.spec: LegendSpec | None = None
        self.assessment: Assessment | None = None
        self.heat: tuple[tuple[tuple[int, int, int], ...], int, float] | None = None  # colours, cell px, top
        self.setMinimumHeight(ROW)

    def set_spec(self, spec: LegendSpec | None, assessment: Assessment | None = None) -> None:
        if (spec, assessment) != (self.spec, self.assessment):
            self.spec, self.assessment = spec, assessment
            self.update()

    def set_heat_scale(self, colors: tuple[tuple[int, int, int], ...] | None, cell_px: int = 0, top: float = 0) -> None:
        self.heat = None if colors is None else (colors, cell_px, top)
        self.setMinimumHeight(ROW * (2 if self.heat else 1))
        self.update()

    def title(self) -> str:
        if self.spec is None:
            return ""
        unreliable = self.assessment is not None and self.assessment.verdict != "reliable"
        if self.spec.title == "geometry" and unreliable and self.assessment is not None:
            return f"geometry ({self.assessment.verdict})"
        return self.spec.title

    def _gradient(self, painter: QPainter, bar: QRectF, colors: tuple[tuple[int, int, int], ...]) -> None:
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for i, colour in enumerate(colors):
            gradient.setColorAt(i / max(len(colors) - 1, 1), QColor(*colour))
        painter.fillRect(bar, gradient)

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setPen(QColor(220, 220, 220))
        if self.spec is not None:
            self._paint_row(painter, 0, self.title(), self.spec.kind, self.spec.colors, self.spec.labels)
        if self.heat is not None:
            colors, cell, top = self.heat
            self._paint_row(painter, ROW, f"density ({cell} px cells)", "gradient", colors, ("0", "", f"{top:.3g}"))
        painter.end()

    def _paint_row(
        self,
        painter: QPainter,
        y: int,
        title: str,
        kind: str,
        colors: tuple[tuple[int, int, int], ...],
        labels: tuple[str, ...],
    ) -> None:
        w = self.width()
        painter.drawText(QRectF(4, y, w - 8, 14), Qt.AlignmentFlag.AlignLeft, title)
        left = 4
        if kind == "swatches":
            for i, (colour, text) in enumerate(zip(colors, labels)):
                x = left + i * ((w - left) // max(len(colors), 1))
                painter.fillRect(QRectF(x, y + 16, 18, 12), QColor(*colour))
                painter.drawText(int(x + 22), y + 27, text)
            return
        bar = QRectF(left, y + 15, w - left - 4, 8)
        self._gradient(painter, bar, colors)
        area = QRectF(left, y + 23, w - left - 4, 12)
        for label, align in zip(
            labels, (Qt.AlignmentFlag.AlignLeft, Qt.AlignmentFlag.AlignHCenter, Qt.AlignmentFlag.AlignRight)
        ):
            painter.drawText(area, align, label)
