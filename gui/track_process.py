"""Track builds for the window, each in a child process (core.tracks.build_process), read back on the calling thread.

A build of a large run spends seconds inside single library calls that hold Python's interpreter lock (scipy's
connected components and sparse conversion, the KD-tree): on a thread of the window's process they would stall its
event loop for hundreds of milliseconds. In a child they cannot. Cancelling ends the child at once: it only writes
its own temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from core.errors import MatchCancelled, UserError
from core.tracks.build import RunTracks
from core.tracks.stored import load_built

from .inspection.tracks import TrackInputs


class TrackBuildError(UserError):
    """A run or model the child could not read: its one-line message."""


class TrackBuilder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._folder: Path | None = None  # the running build's folder: cancel() removes it at once
        self._cancelled = False

    def build(
        self,
        inputs: TrackInputs,
        on_stage: Callable[[str], None] = lambda text: None,
        on_note: Callable[[str], None] = lambda text: None,
    ) -> RunTracks:
        """Raises TrackBuildError (one line for the user), MatchCancelled, or RuntimeError (the child failed).
        `on_note` gets the child's notes for the user (a model beside the run that it could not read)."""
        root = str(Path(__file__).resolve().parent.parent)  # the child runs the same `core` as this process
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        folder = Path(tempfile.mkdtemp(prefix="match-inspector-tracks-"))
        handed_over = False
        try:
            argv = [
                sys.executable,
                "-m",
                "core.tracks.build_process",
                str(inputs.run),
                str(inputs.image_dir) if inputs.image_dir is not None else "-",
                str(inputs.model) if inputs.model is not None else "-",
                repr(inputs.conflict_px),
                str(folder),
            ]
            with self._lock:
                self._cancelled = False
                self._folder = folder
                process = self._process = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
                )
            assert process.stdout is not None and process.stderr is not None
            for line in process.stdout:
                if line.startswith("stage "):
                    on_stage(line[len("stage ") :].strip())
                elif line.startswith("note "):
                    on_note(line[len("note ") :].strip())
            error = process.stderr.read()
            code = process.wait()
            with self._lock:
                self._process = self._folder = None
                if self._cancelled:
                    raise MatchCancelled()
            if code == 2:
                raise TrackBuildError(error.strip().splitlines()[-1] if error.strip() else "cannot read the run")
            if code != 0:
                last = error.strip().splitlines()[-1] if error.strip() else f"exit code {code}"
                raise RuntimeError(f"the track build failed: {last}")
            on_stage("reading the tracks")
            built = load_built(folder, remove_when_dropped=True)  # memory-mapped: the folder goes with the build
            handed_over = True
            return built
        finally:
            if not handed_over:
                shutil.rmtree(folder, ignore_errors=True)

    def cancel(self) -> None:
        """End the running build, if any (its build() raises MatchCancelled), and remove its folder now: the window
        may be closing, and its thread may not get to clean up."""
        with self._lock:
            self._cancelled = True
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
