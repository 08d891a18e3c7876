"""Fits H/F off the GUI thread; like the match worker, the latest job wins and stale answers are dropped."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.geometry import GeometryOptions, estimate


class GeometryRunner(QObject):
    done = Signal(int, object, float)  # job id, GeometryResult, display threshold it was fitted at

    def __init__(self) -> None:
        super().__init__()
        self._latest = 0
        self._lock = threading.Lock()

    def submit(self, kpts0: np.ndarray, kpts1: np.ndarray, options: GeometryOptions, threshold: float) -> int:
        with self._lock:
            self._latest += 1
            job = self._latest
        thread = threading.Thread(
            target=self._run, args=(job, kpts0.copy(), kpts1.copy(), options, threshold), name="geometry", daemon=True
        )
        thread.start()
        return job

    def _run(self, job: int, kpts0: np.ndarray, kpts1: np.ndarray, options: GeometryOptions, threshold: float) -> None:
        try:
            result: Any = estimate(kpts0, kpts1, options)
        except Exception as exc:  # estimate reports degenerate input itself; anything else is shown, not raised
            from core.geometry import GeometryResult

            n = len(kpts0)
            result = GeometryResult(
                options.model,
                None,
                np.zeros(n, bool),
                np.full(n, np.nan),
                f"geometry failed: {exc}",
                options.threshold_px,
            )
        with self._lock:
            if job != self._latest:
                return
        self.done.emit(job, result, threshold)

    @property
    def latest(self) -> int:
        return self._latest
