"""Starts the window. Shows it before anything imports torch: the model loads later, in the matcher's child process."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from resources import resource_path


def run_app(paths: list[str], then: Callable[[Any], None] | None = None) -> int:
    """The window, with a pair (`paths`) or anything else to open once it is shown (`then(window)`)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Match Inspector")
    app.setOrganizationName("MatchInspector")
    app.setStyleSheet(resource_path("style.qss").read_text())  # a missing style sheet is an error, not a look
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    if len(paths) == 2:
        QTimer.singleShot(0, lambda: window.load_pair(paths[0], paths[1]))
    elif len(paths) == 1:
        QTimer.singleShot(0, lambda: window.load_image_into(0, paths[0]))
    if then is not None:
        QTimer.singleShot(0, lambda: then(window))
    # Ctrl+C in the terminal closes the window instead of being swallowed by the event loop.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer(interval=250)
    ticker.timeout.connect(lambda: None)
    ticker.start()
    code = app.exec()
    if os.environ.get("MATCH_INSPECTOR_KEEP_PROCESS") != "1":
        os._exit(code)  # don't wait for daemon threads (one waits on the matcher's child process; decodes, fits)
    return code
