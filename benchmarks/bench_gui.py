"""GUI rendering and start-up figures (offscreen Qt; run under a real display for on-screen numbers).

    python benchmarks/bench_gui.py [--counts 10000 50000]

Slider update: one threshold change, including the synchronous repaint of the view, median over many moves.
Full render: rebuilding every line bucket and repainting (what a new result or colour mode costs), which is also
what a naive slider would do; the ratio between the two is printed. Start-up: time from launching a process to the
window being shown, against the time to import torch alone (the window must not wait for it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())


def _fake_result(count: int, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    import numpy as np

    from core.types import MatchResult, RunInfo

    rng = np.random.default_rng(0)
    h, w = size
    kpts0 = rng.uniform([0, 0], [w - 1, h - 1], (count, 2)).astype(np.float32)
    kpts1 = (kpts0 + rng.normal(0, 20, (count, 2))).clip(0, [w - 1, h - 1]).astype(np.float32)
    scores = np.sort(rng.uniform(0, 1, count).astype(np.float32))[::-1].copy()
    info = RunInfo("benchmark", "-", "cpu", "fp32", (size, size), 0.0)
    return MatchResult(kpts0, kpts1, scores, (size, size), info)


def render_figures(counts: list[int], moves: int) -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from gui.main_window import MainWindow

    window = MainWindow(lambda *a, **k: None)
    window.resize(1600, 1000)
    window.show()
    window.load_pair(str(ROOT / "resources/sample_pair_0.png"), str(ROOT / "resources/sample_pair_1.png"), run=False)
    app.processEvents()
    viewport = window.view.viewport()
    for count in counts:
        window.state.set_result(_fake_result(count, window.state.images[0].size), window.state.pair_version)
        window.analysis_timer.stop()
        app.processEvents()
        viewport.repaint()
        slider = []
        for index in range(moves):
            value = 150 + (index * 37) % 700  # spread over the range, never the same twice in a row
            started = time.perf_counter()
            window.controls.slider.setValue(value)
            viewport.repaint()
            slider.append(time.perf_counter() - started)
        full = []
        for _ in range(max(5, moves // 10)):
            started = time.perf_counter()
            window.view.rebuild_lines()
            viewport.repaint()
            full.append(time.perf_counter() - started)
        window.analysis_timer.stop()
        s, f = statistics.median(slider) * 1000, statistics.median(full) * 1000
        print(
            f"{count:>6} matches: slider update {s:6.1f} ms (p90 {sorted(slider)[int(0.9 * moves)] * 1000:.1f}), "
            f"full render {f:6.1f} ms -> slider is {f / s:.1f}x cheaper than redrawing everything"
            f"{'  [goal <= 16 ms: met]' if s <= 16 else '  [goal <= 16 ms: NOT met]'}"
        )
    window.worker.shutdown()


def startup_figures(runs: int) -> None:
    shown = (
        "import time, sys; t = time.perf_counter();"
        "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "from gui.main_window import MainWindow; w = MainWindow(); w.show(); app.processEvents();"
        "print('torch' in sys.modules)"
    )
    torch_only = "import torch"
    env = dict(os.environ)

    def launch(code: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return time.perf_counter() - started, out.stdout.strip()

    window_times, torch_times, imported = [], [], set()
    for _ in range(runs):
        seconds, flag = launch(shown)
        window_times.append(seconds)
        imported.add(flag)
        torch_times.append(launch(torch_only)[0])
    w, t = statistics.median(window_times), statistics.median(torch_times)
    print(
        f"start-up: window shown {w:.2f} s after launch (goal <= 2 s: {'met' if w <= 2 else 'NOT met'}); "
        f"importing torch alone takes {t:.2f} s ({t / w:.1f}x the window's start-up); "
        f"torch imported before the window was shown: {imported == {'True'}}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", nargs="+", type=int, default=[10_000, 50_000])
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--startup-runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}; Qt platform {os.environ['QT_QPA_PLATFORM']}")
    render_figures(args.counts, args.moves)
    startup_figures(args.startup_runs)


if __name__ == "__main__":
    main()
