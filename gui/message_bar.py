"""A non-blocking banner above the view: errors and hints in plain words, with an optional action."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class MessageBar(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = QPushButton()
        self.action.setVisible(False)
        close = QPushButton("×")
        close.setFixedWidth(28)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self.setStyleSheet("background: #5a4a12; color: #fff3c4;")
        self.hide()
        self._callback: Callable[[], None] | None = None
        self.sticky = False
        self.action.clicked.connect(self._run_action)

    def show_message(
        self,
        text: str,
        action: str | None = None,
        callback: Callable[[], None] | None = None,
        sticky: bool = False,
    ) -> None:
        """`sticky`: stays through new pairs and runs until the user closes it (a hint about the setup)."""
        self.sticky = sticky
        self.label.setText(text)
        self.action.setVisible(action is not None)
        if action:
            self.action.setText(action)
        self._callback = callback
        self.show()

    def dismiss(self) -> None:
        """Hide a message that no longer applies (a new pair, a new run); a sticky hint stays."""
        if not self.sticky:
            self.hide()

    def _run_action(self) -> None:
        if self._callback is not None:
            self._callback()
        self.hide()
