"""A faster backend prepared in the background: after a run where `--backend auto` had to use PyTorch because
nothing was exported and checked yet (RunInfo.backend_preparable), `match-inspector prepare-backends` runs as a
low-priority process while the user inspects; later runs then pick the backend it found, and the status bar says
which. The window never waits for it, and closing ends it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from core.types import MatchOptions, MatchResult

from .feedback import Feedback


def prepare_command(options: MatchOptions) -> list[str]:
    """The arguments of the headless command that prepares the backends for these options."""
    arguments = ["-m", "core.cli", "prepare-backends", "--low-priority"]
    arguments += ["--variant", options.variant, "--precision", options.precision]
    return arguments + (["--weights", options.weights] if options.weights else [])


class BackendPreparation(QObject):
    finished = Signal(bool, str)  # succeeded, the command's last line (its choice, or why it failed)

    def __init__(self, feedback: Feedback) -> None:
        super().__init__()
        self.feedback = feedback
        self.process: QProcess | None = None
        self.tried: set[tuple[str | None, str, str]] = set()  # once per weights, variant and precision

    def result_arrived(self, result: MatchResult, options: MatchOptions) -> None:
        key = (options.weights, options.variant, options.precision)
        if not result.info.backend_preparable or key in self.tried or self.running:
            return
        self.tried.add(key)
        process = QProcess(self)
        environment = QProcessEnvironment.systemEnvironment()
        root = str(Path(__file__).resolve().parents[2])  # this checkout's `core`, as gui.match_process does
        environment.insert("PYTHONPATH", os.pathsep.join(p for p in (root, environment.value("PYTHONPATH")) if p))
        process.setProcessEnvironment(environment)
        process.finished.connect(lambda code, _status: self._done(process, code))
        process.start(sys.executable, prepare_command(options))
        self.process = process
        self.feedback.status("Preparing a faster backend in the background (about a minute)…", 8000)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _done(self, process: QProcess, code: int) -> None:
        output = bytes(process.readAllStandardOutput().data()).decode(errors="replace").strip().splitlines()
        errors = bytes(process.readAllStandardError().data()).decode(errors="replace").strip().splitlines()
        if self.process is process:
            self.process = None
        if code == 0 and output:
            choice = output[-1].removeprefix("--backend auto runs ")
            self.feedback.status(f"Backend checked: next runs use {choice}", 15000)
            self.finished.emit(True, output[-1])
        else:
            reason = errors[-1] if errors else f"exit code {code}"
            self.feedback.status(f"Could not prepare a faster backend; PyTorch stays in use ({reason})", 15000)
            self.finished.emit(False, reason)

    def shutdown(self) -> None:
        if self.running and self.process is not None:
            self.process.kill()
            self.process.waitForFinished(2000)
