"""One widget shows one field: it follows the field's event and writes the field when the user edits it.

`bind` is the one place where a control meets its state; restoring a setting (a session, a context) is only a
change of the field, which every bound widget follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

Widget = QComboBox | QAbstractButton | QAction | QAbstractSlider | QSpinBox | QDoubleSpinBox | QLineEdit


def _read(widget: Widget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, (QAbstractButton, QAction)):
        return widget.isChecked()
    if isinstance(widget, QLineEdit):
        return widget.text()
    return widget.value()


def _show(widget: Widget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        widget.setCurrentIndex(max(0, widget.findData(value)))
    elif isinstance(widget, (QAbstractButton, QAction)):
        widget.setChecked(bool(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(value)
    else:
        widget.setValue(value)


def _edited(widget: Widget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, (QAbstractButton, QAction)):
        return widget.toggled
    if isinstance(widget, QLineEdit):
        return widget.editingFinished
    return widget.valueChanged


def bind(
    widget: Widget,
    changed: Any,
    read: Callable[[], Any],
    write: Callable[[Any], None],
    to_widget: Callable[[Any], Any] = lambda value: value,
    from_widget: Callable[[Any], Any] = lambda value: value,
) -> Callable[..., None]:
    """Show `read()` in `widget` now and on every `changed` event; an edit calls `write`. Returns the follower
    (for a change the event does not cover, such as a new score range under a slider)."""
    if isinstance(widget, QAction):
        widget.setCheckable(True)

    def follow(*_: object) -> None:
        shown = to_widget(read())
        if _read(widget) != shown:
            blocked = widget.blockSignals(True)
            _show(widget, shown)
            widget.blockSignals(blocked)

    _edited(widget).connect(lambda *_: write(from_widget(_read(widget))))
    changed.connect(follow)
    follow()
    return follow


def bind_field(widget: Widget, owner: Any, name: str, scale: float = 1.0) -> Callable[..., None]:
    """A widget bound to field `name` of an evented dataclass; `scale`: widget units per field unit (a slider in
    percent shows a 0..1 field)."""
    to_widget, from_widget = (
        (lambda v: v, lambda v: v) if scale == 1.0 else (lambda v: round(v * scale), lambda v: v / scale)
    )
    return bind(
        widget,
        getattr(owner.events, name),
        lambda: getattr(owner, name),
        lambda value: setattr(owner, name, value),
        to_widget,
        from_widget,
    )
