"""Batch throughput on this machine: the serial executor (the default), `--executor local --workers N` and Ray with N
workers (a Ray instance started on this machine), on the same pairs with the same options.

    python benchmarks/bench_batch.py [--pairs 12] [--workers 2]

Pairs: the bundled photograph (resources/photo_dscovr_launch.jpg) at 1024 x 768 against views of it under random
homographies, saved as JPEG, matched at the default 640 long side with the full model and calibrated random weights
(tests/reference.py). float32 denormals are flushed in this process and in every worker (random weights otherwise
slow every run 3-4x). Each run includes its own start-up: worker processes, Ray, model loading. Printed per
executor: pairs per second over the whole run, pairs per second once every worker has returned its first pair
(steady state), and both as ratios to the serial run measured here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from common import ROOT, machine  # also flushes float32 denormals in this process
from machine_info import cpu_description
from PIL import Image


def flush_denormals() -> None:
    """Run in each worker before its first pair (ProcessExecutor / RayExecutor worker_setup)."""
    import torch

    torch.set_flush_denormal(True)


def write_pairs(folder: Path, count: int) -> Path:
    """photo.jpg (1024 x 768) and view{i}.jpg; returns the pairs file."""
    from core.analysis.synthetic import random_homography, warp

    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(ROOT / "resources" / "photo_dscovr_launch.jpg") as photo:
        scene = np.asarray(photo.convert("RGB").resize((1024, 768), Image.Resampling.BICUBIC))
    Image.fromarray(scene).save(folder / "photo.jpg", quality=95)
    for index in range(count):
        view = warp(scene, random_homography(768, 1024, seed=100 + index, strength=0.06)).astype(np.float64)
        view = np.clip(view * 0.92 + 10, 0, 255).astype(np.uint8)  # a mild exposure change
        Image.fromarray(view).save(folder / f"view{index}.jpg", quality=95)
    pairs = folder / "pairs.txt"
    pairs.write_text("".join(f"photo.jpg view{index}.jpg\n" for index in range(count)))
    return pairs


def write_weights(folder: Path) -> Path:
    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.weights import load_weights_into, save_pretrained
    from tests.reference import calibrated_reference, reference_state_dict

    model = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig())
    load_weights_into(model, reference_state_dict(calibrated_reference(seed=2)), "reference")
    save_pretrained(model, model.config, folder)
    return folder


class Timed:
    """An executor that notes when each outcome reaches the driver."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.times: list[float] = []

    @property
    def replaced_workers(self) -> int:
        return self.inner.replaced_workers

    def run(self, jobs: Sequence, settings) -> Iterator:
        for outcome in self.inner.run(jobs, settings):
            self.times.append(time.perf_counter())
            yield outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()

    from core.batch.driver import read_pairs, run_batch
    from core.batch.executors import ProcessExecutor, SerialExecutor
    from core.batch.ray_executor import RayExecutor
    from core.cli import batch_settings, build_parser

    workers = options.workers
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as temp:
        root = Path(temp)
        pairs = write_pairs(root / "images", options.pairs)
        weights = write_weights(root / "weights")
        jobs = read_pairs(pairs)
        executors = {
            "serial (default)": lambda: SerialExecutor(worker_setup=flush_denormals),
            f"local, {workers} workers": lambda: ProcessExecutor(workers, worker_setup=flush_denormals),
            f"Ray, {workers} workers": lambda: RayExecutor(workers, worker_setup=flush_denormals),
        }
        print(f"machine: {cpu_description()}; driver: {machine()}")
        print(
            f"{len(jobs)} pairs of 1024x768 JPEGs matched at 640 (full model, fp32, random weights, denormals "
            f"flushed in every process); workers get cores / {workers} torch threads each; whole runs incl. start-up"
        )
        rates: dict[str, tuple[float, float]] = {}
        for name, make in executors.items():
            argv = ["batch", "--pairs", str(pairs), "--images", str(root / "images"), "-o", str(root / name)]
            settings = batch_settings(build_parser().parse_args([*argv, "--weights", str(weights)]))
            (root / name / "pairs").mkdir(parents=True)
            executor = Timed(make())
            started = time.perf_counter()
            summary = run_batch(jobs, settings, root / name, "npz", executor, show_progress=False)
            elapsed = time.perf_counter() - started
            assert summary.matched == len(jobs) and not summary.failures, summary
            first = 1 if name.startswith("serial") else workers  # the results after each worker's first one
            steady = (len(jobs) - first) / (executor.times[-1] - executor.times[first - 1])
            rates[name] = (len(jobs) / elapsed, steady)
        serial = rates["serial (default)"]
        print(f"{'executor':<20} {'pairs/s (run)':>14} {'vs serial':>10} {'pairs/s (steady)':>17} {'vs serial':>10}")
        for name, (whole, steady) in rates.items():
            print(f"{name:<20} {whole:>14.3f} {whole / serial[0]:>9.2f}x {steady:>17.3f} {steady / serial[1]:>9.2f}x")


if __name__ == "__main__":
    main()
