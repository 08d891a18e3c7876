"""Input widgets that behave like every desktop app's.

Number boxes commit a typed value on Enter or focus-out (not on every keystroke, which re-formatted half-typed
numbers); the mouse wheel over a box, combo or slider that does not have focus scrolls the panel instead of changing
the value under the pointer.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QSlider,
    QSpinBox,
    QWidget,
)


class _WheelNeedsFocus:
    """Mixin: without focus the wheel goes to the scroll area around the widget (the panel scrolls)."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
            return
        area = self.parentWidget()  # type: ignore[attr-defined]
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is None:
            event.ignore()
            return
        QApplication.sendEvent(area.viewport(), event)
        event.accept()


class NumberBox(_WheelNeedsFocus, QDoubleSpinBox):
    pass


class IntegerBox(_WheelNeedsFocus, QSpinBox):
    pass


class ComboBox(_WheelNeedsFocus, QComboBox):
    pass


class Slider(_WheelNeedsFocus, QSlider):
    pass


def calm_wheel(widget: QWidget) -> QWidget:
    """Clicks and Tab give focus, the wheel does not."""
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return widget


def number_box(
    minimum: float, maximum: float, value: float, step: float, decimals: int = 3, suffix: str = ""
) -> NumberBox:
    box = NumberBox(decimals=decimals, minimum=minimum, maximum=maximum, singleStep=step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)  # valueChanged on Enter, focus-out, arrows: never mid-typing
    box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
    calm_wheel(box)
    return box


def integer_box(minimum: int, maximum: int, value: int, step: int, suffix: str = "") -> QSpinBox:
    box = IntegerBox(minimum=minimum, maximum=maximum, singleStep=step)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setGroupSeparatorShown(True)
    box.setKeyboardTracking(False)
    calm_wheel(box)
    return box


def combo(*items: tuple[str, object]) -> QComboBox:
    """A combo box of (label, data) items."""
    box = ComboBox()
    for label, data in items:
        box.addItem(label, data)
    calm_wheel(box)
    return box


def slider(minimum: int, maximum: int, value: int) -> QSlider:
    bar = Slider(Qt.Orientation.Horizontal)
    bar.setRange(minimum, maximum)
    bar.setValue(value)
    calm_wheel(bar)
    return bar
