"""How soon Cancel lands, per model stage, at 1024 x 768.

    python benchmarks/bench_cancel.py [--delay 0.1] [--skip-window] [--skip-model]

Window (the conditions of bench_gui.py: offscreen Qt, the 1600 x 1000 window, the photo sample pair, calibrated
random weights, the model in the child process): for each stage, a run at a fixed 1024 x 768 inference size is
started, Cancel is clicked `--delay` seconds after the status bar first names the stage, and the time from the click
to the window being idle again ("Matching cancelled.") is printed, with how the run stopped: between the model's
blocks (the child and its loaded model kept) or by ending the child (the run was inside a step longer than
gui.match_process.CANCEL_GRACE_SECONDS).

Model (the matcher's fused model in this process, the same weights and size): the cancel flag is set `--delay`
seconds into each stage from another thread, and the time until the forward pass raises is printed, for the checks
between blocks and, as the reference, for checks only between stages (as before), with the ratio. Also the longest
time between two checks in each stage of an uncancelled run: the worst case of the checks between blocks.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from machine_info import ROOT, cpu_description

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())
sys.path.insert(0, str(ROOT))

STAGES = ("backbone", "transformer", "coarse", "fine")
SIZE = (1024, 768)  # width, height
GOAL = 0.5  # seconds


def _load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def make_weights() -> str:
    import torch

    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.weights import load_weights_into, save_pretrained
    from tests.reference import calibrated_reference, reference_state_dict

    torch.set_flush_denormal(True)
    folder = Path(tempfile.mkdtemp()) / "eloftr-random"
    model = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig())
    load_weights_into(model, reference_state_dict(calibrated_reference(seed=2)), "reference")
    save_pretrained(model, model.config, folder)
    return str(folder)


def window_figures(app, weights: str, delay: float) -> None:  # type: ignore[no-untyped-def]
    from bench_gui import wait

    from gui.main_window import MainWindow

    window = MainWindow()  # the real matcher, in its child process
    window.resize(1600, 1000)
    window.show()
    model, status = window.model, window.statusBar()
    model.set_match_options(replace(model.match_options, matcher="eloftr", weights=weights, size=SIZE))
    window.load_pair(str(ROOT / "resources/sample_pair_0.png"), str(ROOT / "resources/sample_pair_1.png"), run=False)
    wait(app, window.is_idle)
    started = time.perf_counter()
    window.runs.run()  # a first run: torch import, weights; then every stage is warm
    wait(app, window.is_idle, timeout=600)
    print(
        f"window: a whole run at 1024x768 (first, with torch import and weights) {time.perf_counter() - started:.1f} s"
    )
    for stage in ("backbone", "transformer", "coarse", "fine"):
        window.runs.run()
        wait(app, lambda s=stage: status.currentMessage().startswith(s), timeout=600)  # type: ignore[misc]
        deadline = time.perf_counter() + delay
        wait(app, lambda d=deadline: time.perf_counter() >= d)  # type: ignore[misc]
        process = window.runs.worker._process
        child = process._process if process is not None else None
        clicked = time.perf_counter()
        window.controls.cancel_button.click()
        said = status.currentMessage()
        wait(app, window.is_idle, timeout=60)
        latency = time.perf_counter() - clicked
        kept = process is not None and process._process is child
        how = "stopped between blocks, model kept" if kept else "child process ended, the next run reloads"
        print(
            f"  cancel during {stage:<11} idle {latency * 1000:5.0f} ms after the click "
            f"[goal < {GOAL * 1000:.0f} ms: {'met' if latency < GOAL else 'NOT met'}]; "
            f"status at the click '{said}', then '{status.currentMessage()}'; {how}"
        )
    window.shutdown()
    window.close()


def model_figures(weights: str, delay: float) -> None:
    import numpy as np
    import torch

    from core.analysis.synthetic import textured_scene, warp
    from core.model import Cancelled, EfficientLoFTRForKeypointMatching, StageHooks
    from tests.reference import gray_tensor

    model = EfficientLoFTRForKeypointMatching.from_pretrained(weights).optimize_for_inference()
    model.coarse_threshold = 0.2
    scene = textured_scene(SIZE[1], SIZE[0], 3)
    image0 = gray_tensor(scene)
    image1 = gray_tensor(warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]])))

    class StageBoundaries(StageHooks):
        """The reference: cancel checked only where a stage begins, as before the checks between blocks."""

        def step(self, done: int, total: int) -> None:
            if done == 0:
                super().step(done, total)

    def forward(hooks: StageHooks) -> None:
        with torch.inference_mode():
            model(pixel_values0=image0, pixel_values1=image1, hooks=hooks)

    checks: list[tuple[float, str]] = []
    timed = StageHooks(cancelled=lambda: bool(checks.append((time.perf_counter(), timed._stage))))
    forward(timed)  # warm-up and the gaps between checks
    longest = {s: 0.0 for s in STAGES}
    for (before, _), (after, stage) in zip(checks, checks[1:]):
        longest[stage] = max(longest[stage], after - before)
    print(
        "model: stage times "
        + ", ".join(f"{s} {timed.timings[s]:.2f} s" for s in STAGES)
        + "; longest time between two cancel checks "
        + ", ".join(f"{s} {longest[s] * 1000:.0f} ms" for s in STAGES)
    )

    def cancel_latency(hooks_type: type[StageHooks], stage: str) -> float:
        flag = threading.Event()
        armed: list[threading.Timer] = []
        set_at: list[float] = []

        def set_flag() -> None:
            set_at.append(time.perf_counter())
            flag.set()

        def progress(name: str, _: float) -> None:
            if name == stage and not armed:
                armed.append(threading.Timer(delay, set_flag))
                armed[0].start()

        hooks = hooks_type(progress=progress, cancelled=flag.is_set)
        try:
            forward(hooks)
        except Cancelled:
            pass
        # Checked only between stages, a cancel during the last stage waits for the whole run (then dropped).
        return time.perf_counter() - set_at[0]

    for stage in STAGES:
        between_blocks = cancel_latency(StageHooks, stage)
        reference = cancel_latency(StageBoundaries, stage)
        print(
            f"  cancel during {stage:<11} raises {between_blocks * 1000:5.0f} ms after the flag "
            f"[goal < {GOAL * 1000:.0f} ms: {'met' if between_blocks < GOAL else 'NOT met'}]; checked only between "
            f"stages {reference * 1000:5.0f} ms: {reference / between_blocks:.1f}x sooner"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.1, help="seconds into the stage at which to cancel")
    parser.add_argument("--skip-window", action="store_true")
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args()
    print(f"machine: {cpu_description()}; load average {_load()} (1 / 5 / 15 min) at the start")
    weights = make_weights()
    if not args.skip_window:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        window_figures(app, weights, args.delay)
    if not args.skip_model:
        model_figures(weights, args.delay)
    print(f"load average {_load()} at the end")


if __name__ == "__main__":
    main()
