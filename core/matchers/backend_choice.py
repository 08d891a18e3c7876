"""`--backend auto`: the fastest installed backend that gives PyTorch's matches, decided once and remembered.

A backend is a candidate when its packages are installed and it runs the asked precision on this device. It is
used only after a probe: the probe pair matched by PyTorch and by each candidate from the cached export; a
candidate whose matches differ beyond ties (see `disagreement`) or that fails is not picked, and the verdict says
why. The fastest agreeing one wins. Exporting and probing take about a minute, so `choose_backend` never does it:
without a verdict it picks PyTorch and says so (`BackendChoice.preparable`); `prepare_backends` does the work, up
front for a long batch, in the background for the window, or by `match-inspector prepare-backends`.

Verdicts live in the cache folder, one file per weights, variant and precision, and count only for the same
package versions and CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import OptionsError
from core.formats.files import write_atomically
from core.formats.user_folders import cache_dir
from core.matchers.backends import PRECISIONS, missing_packages
from core.matchers.onnx_export import FORMAT_VERSION
from core.types import Backend, MatchOptions

ProgressCallback = Callable[[str, float], None]

# Faster first where the probe's times are equal (measured order on CPUs, benchmarks/bench_matcher.py).
CANDIDATES: tuple[Backend, ...] = ("openvino", "onnxruntime")
PROBE_SIZE = (640, 480)  # (width, height): the default inference size, where the speed ranking is made
PROBE_RUNS = 2  # timed runs per backend after a warm-up; the faster is kept
# What "the same matches" allows (as the backend tests): a match only one side has must be a tie in PyTorch's
# confidences (best two of its row or column within TIE_RTOL, or the best at the threshold); shared matches'
# keypoints agree within KEYPOINT_TOLERANCE_PX and scores within SCORE_TOLERANCE (OpenVINO's exp/log differ most;
# relative for scores above 1).
TIE_RTOL = 1e-5
# A batch prepares up front (export and probe: 55 s on the 2-core Xeon of the README) when it has at least this many
# pairs to match, about what the faster backend saves back at 640x480 (0.27 s a pair there; 0.66 s at 1024x768),
# so a first batch is never slower than PyTorch alone. Smaller batches run PyTorch and say how to prepare.
PREPARE_MIN_PAIRS = 200
KEYPOINT_TOLERANCE_PX = 1e-3
SCORE_TOLERANCE = {"onnxruntime": 2e-3, "openvino": 2e-2}


@dataclass(frozen=True)
class BackendChoice:
    backend: Backend  # torch | onnxruntime | openvino, never auto
    reason: str  # one line for the run information and provenance
    preparable: bool = False  # exporting and probing could give a faster backend for these options


@dataclass(frozen=True)
class ProbeVerdict:
    backend: Backend
    agrees: bool
    seconds: float  # best timed run on the probe pair; 0 when it failed
    reason: str  # why it disagreed or failed ("" when it agrees)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@functools.cache  # read on every auto run: package versions and the CPU do not change while a process runs
def environment() -> dict[str, str]:
    """What a verdict holds for: the packages that compute it and the CPU."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("torch", "onnxruntime", "openvino"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = ""
    found["cpu"] = platform.processor() or platform.machine()
    found["format"] = FORMAT_VERSION
    return found


def verdict_path(weights_sha256: str, options: MatchOptions) -> Path:
    return cache_dir() / "backend-choice" / f"{weights_sha256[:16]}-{options.variant}-{options.precision}.json"


def _read_verdicts(path: Path) -> list[ProbeVerdict] | None:
    try:
        data = json.loads(path.read_text())
        if data.get("environment") != dict(environment()):
            return None
        verdicts = [ProbeVerdict(**entry) for entry in data["verdicts"]]
        known = ("torch", *CANDIDATES)
        return verdicts if all(v.backend in known for v in verdicts) else None
    except (OSError, ValueError, KeyError, TypeError):  # missing, damaged or from another version: probe again
        return None


def candidates(options: MatchOptions) -> tuple[list[Backend], list[str]]:
    """The backends that could serve these options, and why each other one cannot (lines)."""
    usable: list[Backend] = []
    why_not: list[str] = []
    for backend in CANDIDATES:
        problem = missing_packages(backend)
        if problem is None and options.precision not in PRECISIONS[backend]:
            problem = f"{backend} does not run {options.precision}"
        if problem is None and options.device not in ("auto", "cpu"):
            problem = f"{backend} runs on the CPU here, not {options.device}"
        if problem:
            why_not.append(problem)
        else:
            usable.append(backend)
    return usable, why_not


def _weights_sha256(options: MatchOptions) -> str:
    from core.matchers.backends import weights_sha256
    from core.model.weights import resolve_source

    path, _ = resolve_source(options.weights, local_files_only=options.local_files_only)
    return weights_sha256(path)


def choose_backend(options: MatchOptions) -> BackendChoice:
    """The backend for options.backend == "auto" (any other value is returned as asked). Cheap: reads a file."""
    if options.backend != "auto":
        return BackendChoice(options.backend, "asked for")
    if options.device not in ("auto", "cpu"):
        return BackendChoice("torch", f"PyTorch on {options.device}")
    from core.matchers.eloftr import resolve_device

    if resolve_device(options.device) != "cpu":
        return BackendChoice("torch", "PyTorch on the GPU")
    usable, why_not = candidates(options)
    if not usable:
        return BackendChoice("torch", "PyTorch: no faster backend here (" + "; ".join(why_not) + ")")
    verdicts = _read_verdicts(verdict_path(_weights_sha256(options), options))
    if verdicts is None:
        return BackendChoice(
            "torch",
            f"PyTorch this time: {' and '.join(usable)} not yet exported and checked for these weights "
            "(match-inspector prepare-backends does it once, about a minute)",
            preparable=True,
        )
    return pick(verdicts, usable)


def resolve_auto(options: MatchOptions, progress: ProgressCallback | None = None) -> tuple[MatchOptions, BackendChoice]:
    """options with backend "auto" resolved, and the choice; the weights are found (downloaded, with progress)
    first, since the choice depends on them."""
    if options.backend != "auto":
        return options, BackendChoice(options.backend, "asked for")
    if options.onnx_model:
        raise OptionsError("an ONNX model runs with the onnxruntime or openvino backend, not auto")
    from core.matchers.eloftr import download_progress
    from core.model.weights import resolve_source

    resolve_source(options.weights, download_progress(progress), options.local_files_only)
    choice = choose_backend(options)
    return dataclasses.replace(options, backend=choice.backend), choice


def pick(verdicts: list[ProbeVerdict], usable: list[Backend]) -> BackendChoice:
    """The fastest agreeing backend among `usable`, PyTorch when none agrees or none is faster."""
    timed = {v.backend: v for v in verdicts}
    torch_seconds = timed["torch"].seconds if "torch" in timed else float("inf")
    agreeing = [v for v in verdicts if v.backend in usable and v.agrees]
    agreeing.sort(key=lambda v: (v.seconds, CANDIDATES.index(v.backend)))
    refused = "; ".join(f"{v.backend} not used: {v.reason}" for v in verdicts if v.backend in usable and not v.agrees)
    also = f"; {refused}" if refused else ""
    if agreeing and agreeing[0].seconds < torch_seconds:
        best = agreeing[0]
        reason = f"{best.backend}: fastest with PyTorch's matches on the probe pair ({best.seconds:.2f} s vs PyTorch "
        return BackendChoice(best.backend, reason + f"{torch_seconds:.2f} s){also}")
    if agreeing:
        return BackendChoice("torch", f"PyTorch: no backend was faster on the probe pair ({torch_seconds:.2f} s){also}")
    return BackendChoice("torch", "PyTorch: " + (refused or "no backend was checked"))


def disagreement(reference: Any, candidate: Any, threshold: float, backend: str) -> str:
    """Why `candidate`'s matches are not `reference`'s (both model outputs of one pair), "" when they are the same.

    Matches are compared by their coarse cells; a match only one side has is excused only by a tie in the
    reference's own confidences.
    """
    import torch

    from core.model.coarse import confidence_matrix

    def matches(output: Any) -> dict[tuple[int, int], int]:
        """(image-0 cell, image-1 cell) -> the match's slot in the output."""
        cells = output.coarse.cells[0]
        slots = torch.nonzero(cells[0] >= 0)[:, 0].tolist()
        return {(int(cells[0, k]), int(cells[1, k])): k for k in slots}

    ours, theirs = matches(reference), matches(candidate)
    differing = set(ours) ^ set(theirs)
    if differing:
        coarse = reference.coarse
        conf = confidence_matrix(coarse.features0, coarse.features1, coarse.temperature, coarse.column_lse is None)[0]
        untied = [cell0 for cell0, _ in differing if not _tied(conf, cell0, threshold)]
        if untied:
            return f"{len(untied)} of {len(ours)} matches differ from PyTorch's beyond ties"
    shared = sorted(set(ours) & set(theirs))
    if shared:
        rows0 = torch.tensor([ours[p] for p in shared])
        rows1 = torch.tensor([theirs[p] for p in shared])
        kpts = (reference.pixel_keypoints[0][:, rows0] - candidate.pixel_keypoints[0][:, rows1]).abs().max()
        expected = reference.matching_scores[0, 0][rows0]
        # Relative beyond 1: the opt variant's scores are similarity logits in the thousands.
        scores = ((expected - candidate.matching_scores[0, 0][rows1]).abs() / expected.abs().clamp(min=1)).max()
        if float(kpts) > KEYPOINT_TOLERANCE_PX:
            return f"keypoints differ from PyTorch's by up to {float(kpts):.2g} px"
        if float(scores) > SCORE_TOLERANCE[backend]:
            return f"scores differ from PyTorch's by up to {float(scores):.2g} (relative above 1)"
    return ""


def _tied(conf: Any, cell0: int, threshold: float) -> bool:
    """Whether image-0 cell `cell0`'s mutual-nearest-neighbour decision is a tie in `conf` (L, S)."""

    def close(values: Any) -> bool:
        best, second = values.topk(2).values.tolist()
        return abs(best - second) <= TIE_RTOL * abs(best)

    row = conf[cell0]
    column = conf[:, int(row.argmax())]
    at_threshold = abs(float(row.max()) - threshold) <= TIE_RTOL * max(abs(threshold), 1.0)
    return close(row) or close(column) or at_threshold


def probe_pair() -> tuple[np.ndarray, np.ndarray]:
    """A textured scene and a second view of it at the probe size (many decisive matches, a few near ties)."""
    from core.analysis.synthetic import homography_pair

    width, height = PROBE_SIZE
    pair = homography_pair(height, width, seed=11, strength=0.04)
    return pair.image0, pair.image1


def prepare_backends(options: MatchOptions, progress: ProgressCallback | None = None) -> BackendChoice:
    """Export (once) and probe every candidate for these options; remember and return the verdict."""
    from core.matchers.eloftr import load_model, run_model_output

    usable, _ = candidates(options)
    sha = _weights_sha256(options)
    path = verdict_path(sha, options)
    base = dataclasses.replace(options, size=(PROBE_SIZE[0], PROBE_SIZE[1]), keep_coarse_features=True)
    image0, image1 = probe_pair()

    def timed(opts: MatchOptions) -> tuple[Any, float]:
        output = run_model_output(image0, image1, opts, progress)  # warm-up, and the export and compile
        best = float("inf")
        for _ in range(PROBE_RUNS):
            started = time.perf_counter()
            output = run_model_output(image0, image1, opts)
            best = min(best, time.perf_counter() - started)
        return output, best

    if progress:
        progress("checking backends: PyTorch", 0.0)
    load_model(dataclasses.replace(base, backend="torch"))
    reference, torch_seconds = timed(dataclasses.replace(base, backend="torch"))
    verdicts = [ProbeVerdict("torch", True, torch_seconds, "")]
    for index, backend in enumerate(usable):
        if progress:
            progress(f"checking backends: {backend}", (index + 1) / (len(usable) + 1))
        try:
            output, seconds = timed(dataclasses.replace(base, backend=backend))
            problem = disagreement(reference, output, options.internal_threshold, backend)
            verdicts.append(ProbeVerdict(backend, not problem, seconds, problem))
        except Exception as exc:  # a backend that fails is not picked; the verdict says how it failed
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            verdicts.append(ProbeVerdict(backend, False, 0.0, f"failed: {message}"))
    record = {"environment": dict(environment()), "verdicts": [v.to_dict() for v in verdicts]}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2)))
    if progress:
        progress("checking backends: done", 1.0)
    return pick(verdicts, usable)


def _report_to_stderr(stage: str, fraction: float) -> None:
    print(f"match-inspector: {stage} ({fraction:.0%})", file=sys.stderr, flush=True)


def prepare_for_batch(options: MatchOptions, pairs: int) -> str:
    """For a batch of `pairs` with --backend auto: prepare first when it pays back; one line on what will run."""

    choice = choose_backend(options)
    if choice.preparable and pairs >= PREPARE_MIN_PAIRS:
        choice = prepare_backends(options, _report_to_stderr)
    return f"backend {choice.backend}: {choice.reason}"


def prepare_and_describe(options: MatchOptions) -> str:
    """prepare_backends() with progress on stderr; the verdict of every backend and the choice, as lines."""
    choice = prepare_backends(options, _report_to_stderr)
    verdicts = _read_verdicts(verdict_path(_weights_sha256(options), options)) or []
    lines = [
        f"{v.backend:12s} {v.seconds:6.2f} s  " + ("same matches as PyTorch" if v.agrees else v.reason)
        for v in verdicts
    ]
    return "\n".join([*lines, f"--backend auto runs {choice.backend}: {choice.reason}"])
