"""Background jobs off the GUI thread where only the latest request matters (fits, comparisons, decoding, pictures).

One daemon thread per runner. Submitting a job replaces the one still waiting and marks the running one as
superseded: its answer is dropped, so a slow fit or decode never lands after a newer one. A job may poll
`superseded()` between steps to stop early.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.errors import user_message

log = logging.getLogger(__name__)


class LatestJobRunner(QObject):
    finished = Signal(int, object)  # job id, the job's return value
    failed = Signal(int, str)  # job id, message for the user

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self._latest = 0
        self._pending: tuple[int, Callable[..., Any], tuple[Any, ...]] | None = None
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"jobs-{name}", daemon=True)
        self._thread.start()

    @property
    def latest(self) -> int:
        return self._latest

    def submit(self, function: Callable[..., Any], *args: Any) -> int:
        with self._wake:
            self._latest += 1
            self._pending = (self._latest, function, args)
            self._wake.notify()
            return self._latest

    def cancel(self) -> None:
        """Forget the waiting job and drop the running one's answer."""
        with self._wake:
            self._latest += 1
            self._pending = None

    def superseded(self, job: int) -> bool:
        return job != self._latest

    def shutdown(self) -> None:
        with self._wake:
            self._stopped = True
            self._pending = None
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                assert self._pending is not None
                job, function, args = self._pending
                self._pending = None
            try:
                value = function(*args)
            except Exception as exc:  # a failed job is a message, never a dead runner
                log.error("%s job failed:\n%s", self._name, traceback.format_exc())
                if not self.superseded(job):
                    self.failed.emit(job, user_message(exc))
                continue
            if not self.superseded(job):
                self.finished.emit(job, value)
