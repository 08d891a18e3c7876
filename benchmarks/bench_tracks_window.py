"""The window part of bench_tracks.py: event-loop gaps while the tracks build in the background, and the time from
choosing a track to its strip on screen (offscreen Qt)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())  # never the user's window settings

PROBE_MS = 5  # the gap probe's timer interval
CLICKS = 30


def opening_without_tracks(database: Path, images: Path) -> float:
    """The reference: the longest event-loop gap while the window opens the same run with the track dock unhooked
    (the pair browser's table, the first pair in the inspector)."""
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    window.browsing.events.run.disconnect(window.track_docks._run_changed)
    ticks: list[float] = []
    probe = QTimer(interval=PROBE_MS)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    assert window.matching_run.open_path(str(database), str(images))
    ticks.append(time.perf_counter())
    probe.start()
    while not (window.model.result is not None and window.is_idle()):
        loop = QEventLoop()
        QTimer.singleShot(10, loop.quit)
        loop.exec()
    probe.stop()
    window.shutdown()
    window.close()
    return float(np.diff(np.array(ticks)).max() * 1000)


def bench_window(database: Path, images: Path) -> dict[str, float]:
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    state = window.tracks
    ticks: list[float] = []
    probe = QTimer(interval=PROBE_MS)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def spin(until, limit_s: float = 120.0) -> None:
        deadline = time.perf_counter() + limit_s
        while not until():
            if time.perf_counter() > deadline:
                raise TimeoutError("the window did not finish in time")
            loop = QEventLoop()
            QTimer.singleShot(10, loop.quit)
            loop.exec()

    assert window.matching_run.open_path(str(database), str(images))
    started = time.perf_counter()
    ticks.append(started)
    probe.start()
    spin(lambda: window.model.result is not None and window.is_idle())  # the window has opened the run
    opened = time.perf_counter()
    spin(lambda: state.built is not None)
    build_s = time.perf_counter() - started
    probe.stop()
    stamps = np.array(ticks)
    gaps = np.diff(stamps) * 1000
    opening = gaps[stamps[1:] <= opened]
    building = gaps[stamps[:-1] >= opened]
    view = window.track_docks.view
    shown: list[int] = []
    view.stripShown.connect(shown.append)
    built = state.built
    assert built is not None
    rng = np.random.default_rng(0)
    times, longest = [], 0
    candidates = np.flatnonzero(built.tracks.length >= 3)
    for track in rng.choice(candidates, CLICKS, replace=False):
        track = int(track)
        image = int(built.tracks.graph.image[built.tracks.nodes(track)[0]])
        state.show_image(image)
        spin(lambda: view.image_item.image is not None)
        xy = built.tracks.graph.xy[built.tracks.nodes(track)[0]]
        clicked = time.perf_counter()
        state.select_track(state.track_near(image, (float(xy[0]), float(xy[1])), 0.01))
        spin(lambda track=track: bool(shown) and shown[-1] == track)
        app.processEvents()  # the strip painted
        times.append((time.perf_counter() - clicked) * 1000)
        longest = max(longest, int(built.tracks.length[track]))
    window.shutdown()
    window.close()
    return {
        "gap_ms": float(building.max()),
        "opening_gap_ms": float(opening.max()) if len(opening) else 0.0,
        "opening_s": opened - started,
        "build_s": build_s,
        "track_ms": statistics.median(times),
        "track_max_ms": max(times),
        "clicks": len(times),
        "longest": longest,
    }
