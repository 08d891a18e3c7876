"""The weights "…" button: a checkpoint file or a saved model folder (config.json + model.safetensors).

Qt has no dialog that picks either a file or a folder, so the button opens a small menu with one entry for each.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QToolButton, QWidget

from core.default_weights import CHECKPOINT_SUFFIXES

CHECKPOINT_FILTER = "Checkpoints (" + " ".join(f"*{suffix}" for suffix in CHECKPOINT_SUFFIXES) + ")"


class WeightsChooser(QToolButton):
    """Emits `chosen(path)` with the file or folder the user picked; nothing when they cancel."""

    chosen = Signal(str)

    def __init__(self, start_folder: Callable[[], str] = lambda: "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start_folder = start_folder
        self.setText("…")
        self.setToolTip("Choose a checkpoint file or a model folder")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self)
        self.file_action = menu.addAction("Checkpoint file…", self.choose_file)
        self.folder_action = menu.addAction("Model folder (config.json + model.safetensors)…", self.choose_folder)
        self.setMenu(menu)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose EfficientLoFTR weights", self.start_folder(), CHECKPOINT_FILTER
        )
        if path:
            self.chosen.emit(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose an EfficientLoFTR model folder", self.start_folder())
        if path:
            self.chosen.emit(path)
