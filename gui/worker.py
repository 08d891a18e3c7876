"""Runs matching off the GUI thread. One daemon thread, the latest request wins, stale results are labelled.

Every request carries an id; the window only accepts results whose id is the one it is waiting for, so a result
never lands on a pair it was not computed for. A new request cancels the running one (see match_process for how
soon a run stops).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.errors import MatchCancelled, UserError, user_message

from .match_process import MatchProcess

log = logging.getLogger(__name__)

MatchFunction = Callable[..., Any]  # match_pair(image0, image1, options, progress=..., cancelled=...)


@dataclass
class _Job:
    request_id: int
    image0: Any
    image1: Any
    options: Any
    cancel: threading.Event


class MatchWorker(QObject):
    progress = Signal(int, str, float)  # request id, stage, fraction done
    finished = Signal(int, object)  # request id, MatchResult
    failed = Signal(int, str)  # request id, message for the user
    cancelled = Signal(int, str)  # request id, what stopping cost beyond the run ("" when nothing)

    def __init__(self, match_function: MatchFunction | None = None) -> None:
        super().__init__()
        # The real matcher runs in a child process (torch never loads here); tests pass plain functions.
        self._process = MatchProcess() if match_function is None else None
        self._match: MatchFunction = match_function if match_function is not None else self._process  # type: ignore[assignment]
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._current: _Job | None = None
        self._latest: _Job | None = None  # most recently submitted, possibly not started yet
        self._lock = threading.Lock()
        self._next_id = 0
        self._thread = threading.Thread(target=self._run, name="match-worker", daemon=True)
        self._thread.start()

    def new_request_id(self) -> int:
        """An id no other request on this worker has: every controller that submits here takes its ids from it and
        answers only to its own."""
        self._next_id += 1
        return self._next_id

    def submit(self, request_id: int, image0: Any, image1: Any, options: Any) -> None:
        """Queue a run; the running one (if any) is cancelled and queued-but-unstarted ones are dropped."""
        job = _Job(request_id, image0, image1, options, threading.Event())
        with self._lock:
            if self._current is not None:
                self._current.cancel.set()
            while True:
                try:
                    stale = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if stale is not None:
                    self.cancelled.emit(stale.request_id, "")
            self._latest = job
            self._jobs.put(job)

    def cancel(self) -> None:
        """Cancel the running job and one that is queued but not started yet."""
        with self._lock:
            for job in (self._current, self._latest):
                if job is not None:
                    job.cancel.set()

    def shutdown(self) -> None:
        """Stop the current run and end the matcher process; never blocks (the thread is a daemon)."""
        self.cancel()
        self._jobs.put(None)
        if self._process is not None:
            self._process.shutdown()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                self._current = job
            try:
                if job.cancel.is_set():
                    raise MatchCancelled()
                result = self._match(
                    job.image0,
                    job.image1,
                    job.options,
                    progress=lambda stage, fraction, rid=job.request_id: self.progress.emit(rid, stage, fraction),
                    cancelled=job.cancel.is_set,
                )
                if job.cancel.is_set():
                    raise MatchCancelled()
                self.finished.emit(job.request_id, result)
            except MatchCancelled as exc:
                self.cancelled.emit(job.request_id, str(exc))
            except BaseException as exc:  # the worker must survive anything a run throws
                if not isinstance(exc, UserError):
                    log.error("matching failed:\n%s", traceback.format_exc())
                self.failed.emit(job.request_id, user_message(exc))
            finally:
                with self._lock:
                    self._current = None
