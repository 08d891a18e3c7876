"""Colour legend for the match lines: a gradient bar (confidence, residual) or swatches (inlier/outlier)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QWidget

from core.drawing import GAINED_COLOR, INLIER_COLOR, LOST_COLOR, OUTLIER_COLOR, SHARED_COLOR


class Legend(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.mode = "confidence"
        self.threshold_px = 3.0
        self.setMinimumHeight(34)

    def set_mode(self, mode: str, threshold_px: float = 3.0) -> None:
        self.mode, self.threshold_px = mode, threshold_px
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        bar = QRectF(4, 2, w - 8, 12)
        painter.setPen(QColor(220, 220, 220))
        swatches = {
            "inlier": ((INLIER_COLOR, "inlier"), (OUTLIER_COLOR, "outlier")),
            "compare": ((SHARED_COLOR, "shared"), (GAINED_COLOR, "gained"), (LOST_COLOR, "lost")),
        }
        if self.mode in swatches:
            entries = swatches[self.mode]
            for i, (colour, text) in enumerate(entries):
                x = 4 + i * (w // len(entries))
                painter.fillRect(QRectF(x, 2, 24, 12), QColor(*colour))
                painter.drawText(int(x + 30), 13, text)
            painter.end()
            return
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        stops = [(0.0, (255, 0, 0)), (0.5, (255, 255, 0)), (1.0, (0, 255, 0))]
        if self.mode == "residual":
            stops = [(0.0, (0, 255, 0)), (0.5, (255, 255, 0)), (1.0, (255, 0, 0))]
        for position, colour in stops:
            gradient.setColorAt(position, QColor(*colour))
        painter.fillRect(bar, gradient)
        if self.mode == "residual":
            labels = ("0 px", f"{self.threshold_px:g} px", f"≥{2 * self.threshold_px:g} px")
        else:
            labels = ("score 0", "0.5", "1")
        painter.drawText(QRectF(4, 16, w - 8, h - 16), Qt.AlignmentFlag.AlignLeft, labels[0])
        painter.drawText(QRectF(4, 16, w - 8, h - 16), Qt.AlignmentFlag.AlignHCenter, labels[1])
        painter.drawText(QRectF(4, 16, w - 8, h - 16), Qt.AlignmentFlag.AlignRight, labels[2])
        painter.end()
