"""The real matcher, run in a child process (`core.matchers.service`), called like core.matchers.match.match_pair.

The window's process never imports torch: the child does, so a first run's torch import and weight loading, and
every forward pass, leave the event loop alone. The child is started on the first run and kept (the model stays
loaded between runs); it is killed on shutdown, so closing never waits for a model stage.

Cancel: the PyTorch model stops between its blocks (core.model.StageHooks), which keeps the child and its loaded
model. A run that has not stopped CANCEL_GRACE_SECONDS after the cancel was sent (a long single step on a loaded
CPU, the torch import or weight loading, or an ONNX Runtime / OpenVINO graph, which runs in one call) is ended with
its process; the next run starts a fresh one, which loads the model again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.errors import MatchCancelled, MatcherDied, how_it_died, rebuild_failure

POLL_SECONDS = 0.02  # how often a waiting run checks for cancel
CANCEL_GRACE_SECONDS = 0.3  # how long a cancelled PyTorch run may take to stop before its process is ended


class MatchProcess:
    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._to_child: Connection | None = None
        self._from_child: Connection | None = None
        self._lock = threading.Lock()
        self._next_id = 0

    def _start(self) -> None:
        # The package's own folder first, so the child runs the same `core` as this process (also from a checkout).
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "core.matchers.service"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        # Connections own duplicates: Popen keeps (and closes) its own file objects.
        self._to_child = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._from_child = Connection(os.dup(self._process.stdout.fileno()), writable=False)

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _exit_code(self) -> int | None:
        """The child's exit code once its pipe closed: it may take a moment to be reaped."""
        try:
            return self._process.wait(timeout=5) if self._process is not None else None
        except subprocess.TimeoutExpired:  # alive with its pipe gone: shutdown() kills it
            return None

    def __call__(self, image0: Any, image1: Any, options: Any, progress: Any = None, cancelled: Any = None) -> Any:
        with self._lock:  # one run at a time: the worker thread calls in sequence
            if not self._alive():
                self._start()
            assert self._to_child is not None and self._from_child is not None
            self._next_id += 1
            request_id = self._next_id
            try:
                self._to_child.send(("match", request_id, image0, image1, options))
                return self._wait(request_id, progress, cancelled, getattr(options, "backend", "auto"))
            except (EOFError, OSError, BrokenPipeError) as exc:
                death = how_it_died(self._exit_code())
                self.shutdown()
                raise MatcherDied(f"the matcher process died ({death})") from exc

    def _wait(self, request_id: int, progress: Any, cancelled: Any, backend: str) -> Any:
        assert self._to_child is not None and self._from_child is not None
        # An exported graph runs its networks in one call that nothing interrupts: cancelling a backend chosen by
        # name ends the process at once; auto may be running either, so it gets PyTorch's grace.
        grace = CANCEL_GRACE_SECONDS if backend in ("torch", "auto") else 0.0
        cancel_sent: float | None = None  # when the cancel went to the child
        while True:
            if cancel_sent is None and cancelled is not None and cancelled():
                self._to_child.send(("cancel", request_id))
                cancel_sent = time.perf_counter()
            if cancel_sent is not None and time.perf_counter() - cancel_sent >= grace:
                self.shutdown(wait=False)
                stoppable = backend in ("torch", "auto")
                why = "it was inside a long step" if stoppable else f"the {backend} backend cannot stop midway"
                raise MatchCancelled(f"{why}: the matcher process was ended, the next run loads the model again")
            if not self._from_child.poll(POLL_SECONDS):
                if not self._alive():
                    raise EOFError
                continue
            message = self._from_child.recv()
            kind = message[0]
            if kind == "ready" or (kind != "ready" and message[1] != request_id):
                continue  # start-up, or the tail of a run given up on earlier
            if kind == "progress":
                if progress is not None:
                    progress(message[2], message[3])
            elif kind == "done":
                return message[2]
            elif kind == "cancelled":
                raise MatchCancelled()
            elif kind == "failed":
                raise rebuild_failure(message[2], message[3])

    def shutdown(self, wait: bool = True) -> None:
        """Kill the child: a model stage cannot be interrupted, and closing must not wait for it. With wait=False
        the killed process is reaped on a background thread (freeing a loaded model's memory takes a moment)."""
        process, self._process = self._process, None
        for connection in (self._to_child, self._from_child):
            if connection is not None:
                try:
                    connection.close()
                except OSError:
                    pass
        self._to_child = self._from_child = None
        if process is not None:
            if process.poll() is None:
                process.kill()
            if wait:
                _reap(process)
            else:
                threading.Thread(target=_reap, args=(process,), name="match-process-reaper", daemon=True).start()


def _reap(process: subprocess.Popen[bytes]) -> None:
    process.wait(timeout=5)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
