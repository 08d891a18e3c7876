"""The real matcher, run in a child process (`core.matchers.service`), called like core.matchers.match.match_pair.

The window's process never imports torch: the child does, so a first run's torch import and weight loading, and
every forward pass, leave the event loop alone. The child is started on the first run and kept (the model stays
loaded between runs); it is killed on shutdown, so closing never waits for a model stage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.errors import MatchCancelled, MatcherDied, how_it_died, rebuild_failure

POLL_SECONDS = 0.05  # how often a waiting run checks for cancel


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
                return self._wait(request_id, progress, cancelled)
            except (EOFError, OSError, BrokenPipeError) as exc:
                death = how_it_died(self._exit_code())
                self.shutdown()
                raise MatcherDied(f"the matcher process died ({death})") from exc

    def _wait(self, request_id: int, progress: Any, cancelled: Any) -> Any:
        assert self._to_child is not None and self._from_child is not None
        cancel_sent = False
        while True:
            if not cancel_sent and cancelled is not None and cancelled():
                self._to_child.send(("cancel", request_id))
                cancel_sent = True
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

    def shutdown(self) -> None:
        """Kill the child: a model stage cannot be interrupted, and closing must not wait for it."""
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
                process.wait(timeout=5)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
