"""Our EfficientLoFTR against the original implementation and transformers', same weights and inputs; and our ONNX
export run by ONNX Runtime and OpenVINO (when their extras are installed; OpenVINO also in bf16 where the CPU has
bf16 instructions), with its one-time export/compile cost.

    python benchmarks/bench_matcher.py [--sizes 640x480 1024x768] [--runs 3] [--backends onnxruntime openvino]

Runs are interleaved (ours, original, transformers, ours, ...) and medians reported. Peak memory is measured in a
fresh subprocess per implementation and size (growth of the process's peak RSS during one forward pass). Prints
speed ratios, memory, and the largest keypoint difference to the original. Mixed precision (bf16 autocast on CPU,
plus fp16 on CUDA) is reported separately with its deviation from our fp32 result.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from common import ROOT, machine, median_time  # also flushes float32 denormals

IMPLEMENTATIONS = ("ours", "original", "transformers")
# full, or opt (the coarse softmax skipped: the original's skip_softmax; transformers has no such variant). An
# environment variable, so the memory probes' subprocesses run the same variant.
VARIANT = os.environ.get("BENCH_MATCHER_VARIANT", "full")
# Our ONNX export in these runtimes on the CPU: fp32, and OpenVINO's bf16 (CPUs with bf16 instructions).
BACKENDS = ("onnxruntime", "openvino", "openvino-bf16")


def available_backends() -> list[str]:
    found = [b for b in BACKENDS[:2] if importlib.util.find_spec(b)]
    if "openvino" in found:
        import openvino as ov

        if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            found.append("openvino-bf16")
    return found


@dataclass
class Setup:
    runners: dict
    images: tuple


@functools.cache
def _rgb_pair(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    from core.analysis.synthetic import random_homography, textured_scene, warp

    scene = textured_scene(height, width, 3)
    return scene, warp(scene, random_homography(height, width, 5, 0.04))


def _pair(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gray inputs of the model runners; the "auto" runner starts from the RGB images they come from."""
    from tests.reference import gray_tensor

    rgb0, rgb1 = _rgb_pair(width, height)
    return gray_tensor(rgb0), gray_tensor(rgb1)


def build(names: tuple[str, ...], device: str = "cpu", threshold: float = 0.2, weights: str | None = None) -> dict:
    """Each runner maps (image0, image1) to (kpts0, kpts1, scores) numpy arrays in model-input pixels.

    weights: a saved state dict of the original layout; without it the calibrated weights are made here.
    """
    from efficientloftr_inference import LoFTR, full_config

    from tests.reference import calibrated_reference, reference_state_dict

    if weights is None:
        state = reference_state_dict(calibrated_reference(seed=0, threshold=threshold))
    else:
        state = torch.load(weights, weights_only=True)
    runners = {}
    if "ours" in names:
        from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
        from core.model.weights import load_weights_into

        ours = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig.opt() if VARIANT == "opt" else None)
        load_weights_into(ours, state, "reference")
        ours = ours.optimize_for_inference().to(device)
        ours.coarse_threshold = threshold

        def run_ours(a: torch.Tensor, b: torch.Tensor, precision: str = "fp32") -> tuple:
            dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
            context = torch.autocast(device, dtype=dtype) if dtype else torch.autocast(device, enabled=False)
            with torch.inference_mode(), context:
                out = ours(pixel_values0=a.to(device), pixel_values1=b.to(device))
            valid = out.matches[0, 0] >= 0
            return tuple(
                t.float().cpu().numpy()
                for t in (
                    out.pixel_keypoints[0, 0][valid],
                    out.pixel_keypoints[0, 1][valid],
                    out.matching_scores[0, 0][valid],
                )
            )

        runners["ours"] = run_ours
    if "original" in names:
        from efficientloftr_inference import reparameter

        config = full_config(coarse_threshold=threshold)
        config["match_coarse"]["skip_softmax"] = VARIANT == "opt"
        reference = LoFTR(config).eval()
        reference.load_state_dict(dict(state))
        original = reparameter(reference).to(device)  # the original's own inference set-up (fused RepVGG)

        def run_original(a: torch.Tensor, b: torch.Tensor) -> tuple:
            data = {"image0": a.to(device), "image1": b.to(device)}
            with torch.inference_mode():
                original(data)
            return tuple(data[k].float().cpu().numpy() for k in ("mkpts0_f", "mkpts1_f", "mconf"))

        runners["original"] = run_original
    if "transformers" in names:
        import transformers

        from core.model.weights import to_transformers_layout

        config = transformers.EfficientLoFTRConfig(coarse_matching_threshold=threshold)
        theirs = transformers.EfficientLoFTRForKeypointMatching(config).eval()
        theirs.load_state_dict(to_transformers_layout(state), strict=True)
        theirs = theirs.to(device)

        def run_transformers(a: torch.Tensor, b: torch.Tensor) -> tuple:
            pixels = torch.stack([a, b], 1).expand(-1, -1, 3, -1, -1).to(device)
            with torch.inference_mode():
                out = theirs(pixel_values=pixels)
            valid = out.matches[0, 0] >= 0
            size = torch.tensor([a.shape[-1], a.shape[-2]], device=device)
            k0 = out.keypoints[0, 0][valid] * size
            k1 = out.keypoints[0, 1][out.matches[0, 0][valid]] * size
            return k0.cpu().numpy(), k1.cpu().numpy(), out.matching_scores[0, 0][valid].cpu().numpy()

        runners["transformers"] = run_transformers
    for backend in (name for name in names if name in BACKENDS):
        runners[backend] = _backend_runner(backend, state, threshold, weights)
    if "auto" in names:
        runners["auto"] = _auto_runner(state, threshold, weights)
    return runners


ONE_TIME_COSTS: dict[str, float] = {}  # seconds: "export", and "compile <backend>"


def _weights_folder(state: dict, weights: str | None) -> Path:
    """Our model folder for the benchmark's weights (made once, beside the weights file)."""
    from core.model import EfficientLoFTRForKeypointMatching
    from core.model.weights import load_weights_into, save_pretrained

    folder = Path(weights or tempfile.mkdtemp()).with_suffix(".model")
    if not (folder / "model.safetensors").exists():
        model = EfficientLoFTRForKeypointMatching()
        load_weights_into(model, state, "reference")
        save_pretrained(model, model.config, folder)
    return folder


def _backend_runner(name: str, state: dict, threshold: float, weights: str | None) -> object:
    """Our model exported to ONNX (once per weights file, beside it) and compiled for `name` (backend[-precision]),
    then the matching after the graph, as the app runs it."""
    import logging
    import time

    from core.matchers.backends import compile_onnx
    from core.matchers.eloftr import run_compiled

    for noisy in ("onnxscript", "onnx_ir"):  # the exporter's passes log every step at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from core.matchers.onnx_export import export_onnx

    folder = _weights_folder(state, weights)
    onnx_path = folder / f"eloftr-{VARIANT}.onnx"
    if not onnx_path.exists():
        started = time.perf_counter()
        export_onnx(str(folder), VARIANT, onnx_path)
        ONE_TIME_COSTS["export"] = time.perf_counter() - started
    backend, _, precision = name.partition("-")
    started = time.perf_counter()
    compiled = compile_onnx(onnx_path, backend, "cpu", precision or "fp32")
    ONE_TIME_COSTS[f"compile {name}"] = time.perf_counter() - started

    def run_backend(a: torch.Tensor, b: torch.Tensor) -> tuple:
        out = run_compiled(compiled, [a[0, 0].numpy(), b[0, 0].numpy()], threshold)
        valid = out.matches[0, 0] >= 0
        return tuple(t.numpy() for t in (*out.pixel_keypoints[0, :, valid], out.matching_scores[0, 0][valid]))

    return run_backend


def _auto_runner(state: dict, threshold: float, weights: str | None) -> object:
    """What `match` and `batch` run with no backend flag: match_pair with --backend auto on the RGB images, once
    `prepare-backends` has left its verdict (in the benchmark's own cache folder; its cost is a one-time cost)."""
    import time

    from core.matchers.backend_choice import choose_backend, prepare_backends, resolve_auto
    from core.matchers.backends import load_compiled
    from core.matchers.eloftr import load_model
    from core.matchers.match import match_pair
    from core.types import MatchOptions

    folder = _weights_folder(state, weights)
    os.environ.setdefault("MATCH_INSPECTOR_CACHE_DIR", str(folder.with_suffix(".cache")))  # memory probes inherit it

    def options(a: torch.Tensor) -> MatchOptions:
        size = (a.shape[-1], a.shape[-2])
        return MatchOptions(weights=str(folder), size=size, variant=VARIANT, internal_threshold=threshold)

    started = time.perf_counter()
    prepared = MatchOptions(weights=str(folder), variant=VARIANT, internal_threshold=threshold)
    choice = choose_backend(prepared)
    if choice.preparable:  # once per benchmark: the memory probes' processes find its verdict
        choice = prepare_backends(prepared)
        ONE_TIME_COSTS["prepare-backends (export + probe)"] = time.perf_counter() - started
    AUTO_CHOICE.append(f"{choice.backend}: {choice.reason}")
    # The model loaded (or compiled) with no forward pass, as the other runners' set-up leaves theirs: a memory probe
    # then counts the same first pass for every implementation.
    concrete, _ = resolve_auto(options(torch.zeros(1, 1, 96, 128)))
    if concrete.backend == "torch":
        load_model(concrete)
    else:
        load_compiled(concrete)

    def run_auto(a: torch.Tensor, b: torch.Tensor) -> tuple:
        result = match_pair(*_rgb_pair(a.shape[-1], a.shape[-2]), options(a))
        AUTO_STAGES.setdefault(f"{a.shape[-1]}x{a.shape[-2]}", []).append(result.info.timings)
        cells = np.rint(result.kpts0 / 8)  # a fine keypoint lies within 3.5 px of its coarse cell's corner
        order = np.lexsort((cells[:, 0], cells[:, 1]))  # the others' order: by image-0 cell
        return result.kpts0[order], result.kpts1[order], result.scores[order]

    return run_auto


AUTO_CHOICE: list[str] = []
AUTO_STAGES: dict[str, list[dict[str, float]]] = {}  # per size, the stage timings of each auto run


def keypoint_difference(result: tuple, reference: tuple) -> str:
    """Largest keypoint difference over the original's matches (matched by image-0 keypoint)."""
    ours0, ours1, ours_scores = result
    ref0, ref1, ref_scores = reference
    if len(ours0) == len(ref0) and np.abs(ours0 - ref0).max(initial=0) < 1.0:
        return (
            f"{max(np.abs(ours0 - ref0).max(initial=0), np.abs(ours1 - ref1).max(initial=0)):.2e} px "
            f"(same {len(ours0)} matches; scores within {np.abs(ours_scores - ref_scores).max(initial=0):.1e})"
        )
    if len(ours0) == 0 or len(ref0) == 0:
        return f"different match sets ({len(ours0)} vs {len(ref0)} matches)"
    # Different sets: pair matches whose image-0 keypoints lie within one coarse cell (8 px) of each other.
    distance = np.abs(ours0[:, None, :] - ref0[None, :, :]).max(-1)
    nearest = distance.argmin(1)
    same_cell = distance[np.arange(len(ours0)), nearest] < 8
    if not same_cell.any():
        return f"different match sets ({len(ours0)} vs {len(ref0)} matches, none in the same cells)"
    shift1 = np.linalg.norm(ours1[same_cell] - ref1[nearest[same_cell]], axis=1)
    return (
        f"different match sets: {int(same_cell.sum())} of {len(ours0)} matches in the same image-0 cells as "
        f"the {len(ref0)} reference matches; their image-1 keypoints differ by median {np.median(shift1):.2f} px, "
        f"{100 * np.mean(shift1 < 1):.0f}% under 1 px"
    )


def memory_probe(name: str, width: int, height: int, device: str, threshold: float, weights: str) -> float:
    """Run in a fresh subprocess: MB of peak memory growth during the first forward pass (model and inputs ready)."""
    import ctypes
    import threading
    import time

    runner = build((name,), device, threshold, weights)[name]
    a, b = _pair(width, height)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        runner(a, b)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed set-up memory back, so growth is the forward's own
    except OSError:
        pass

    def resident_mb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    # Sample the resident size while the forward runs (ru_maxrss would also count the set-up's peak).
    baseline, peak, running = resident_mb(), [0.0], [True]

    def sample() -> None:
        while running[0]:
            peak[0] = max(peak[0], resident_mb())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    runner(a, b)
    running[0] = False
    sampler.join()
    return max(peak[0], resident_mb()) - baseline


def peak_memory(name: str, width: int, height: int, device: str, threshold: float, weights: str) -> float:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r});"
        f"from bench_matcher import memory_probe;"
        f"print(memory_probe({name!r}, {width}, {height}, {device!r}, {threshold!r}, {weights!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1024x768"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="peak memory per implementation, no timing")
    parser.add_argument("--only", nargs="+", help="with --memory-only: just these (e.g. ours onnxruntime auto)")
    parser.add_argument("--weights", help="a state dict saved by an earlier run (default: made anew)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.2,
        help="coarse threshold for all three (0 keeps every mutual nearest neighbour: dense matches)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--no-auto",
        action="store_true",
        help="leave out 'auto': match_pair with no backend flag, as match and batch run (after prepare-backends)",
    )
    parser.add_argument(
        "--backends",
        nargs="*",
        default=available_backends(),
        choices=BACKENDS,
        help="ONNX runtimes to add (default: those installed; openvino-bf16 where the CPU has bf16); CPU only",
    )
    parser.add_argument("--variant", choices=["full", "opt"], default="full")
    args = parser.parse_args()
    global VARIANT
    VARIANT = os.environ["BENCH_MATCHER_VARIANT"] = args.variant
    print(f"machine: {machine()}; device {args.device}; variant {VARIANT}; coarse threshold {args.threshold}")
    from tests.reference import calibrated_reference, reference_state_dict

    weights = args.weights  # an earlier run's: its export and its auto verdict are reused (beside it)
    if weights is None:
        weights = tempfile.NamedTemporaryFile(suffix=".pt", delete=False).name
        torch.save(reference_state_dict(calibrated_reference(seed=0)), weights)
    backends = args.backends if args.device == "cpu" else []
    default_path = ("auto",) if args.device == "cpu" and not args.no_auto else ()
    implementations = IMPLEMENTATIONS if VARIANT == "full" else ("ours", "original")
    names = implementations + tuple(backends) + default_path
    names = tuple(n for n in names if n in args.only) if args.only else names
    runners = build(names, args.device, args.threshold, weights)
    for name, seconds in ONE_TIME_COSTS.items():
        print(f"one-time {name}: {seconds:.1f} s")
    if AUTO_CHOICE:
        print(f"auto (the default of match and batch) runs {AUTO_CHOICE[0]}")
    report = []
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        if args.memory_only:
            memory = {n: peak_memory(n, width, height, args.device, args.threshold, weights) for n in runners}
            print(f"\n{size}: peak memory growth of one pair (no timing)")
            for name, megabytes in memory.items():
                print(f"  {name:13s} peak +{megabytes:7.0f} MB")
            report.append({"size": size, "memory_mb": memory})
            continue
        a, b = _pair(width, height)
        results = {name: runner(a, b) for name, runner in runners.items()}  # warm-up, and outputs to compare
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.runs):  # interleaved
            for name, runner in runners.items():
                times[name].append(median_time(lambda r=runner, a=a, b=b: r(a, b), 1))
        median = {name: float(np.median(t)) for name, t in times.items()}
        memory = (
            {}
            if args.no_memory
            else {n: peak_memory(n, width, height, args.device, args.threshold, weights) for n in runners}
        )
        print(f"\n{size}: {len(results['original'][2])} matches in the original")
        for name in runners:
            line = f"  {name:13s} {median[name]:6.2f} s"
            if memory:
                line += f"  peak +{memory[name]:7.0f} MB"
            if name in BACKENDS or name == "auto":
                line += f"  vs ours (torch fp32): {keypoint_difference(results[name], results['ours'])}"
            elif name != "original":
                line += f"  max keypoint diff to original: {keypoint_difference(results[name], results['original'])}"
            print(line)
        print(
            f"  speed: ours is {median['original'] / median['ours']:.2f}x the original"
            + (f", {median['transformers'] / median['ours']:.2f}x transformers" if "transformers" in runners else "")
        )
        for backend in (*backends, *default_path):
            print(
                f"  speed: {backend} is {median['original'] / median[backend]:.2f}x the original, "
                f"{median['ours'] / median[backend]:.2f}x ours (torch fp32)"
            )
        if AUTO_STAGES.get(size):
            # What bounds auto: with nothing after the graph it could be at most original / networks.
            runs = AUTO_STAGES[size][1:]  # the warm-up left out
            stages = {stage: float(np.median([t[stage] for t in runs])) for stage in runs[-1]}
            print("  auto's stages (medians): " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
            networks = sum(v for k, v in stages.items() if k.startswith("networks"))
            if networks:
                print(f"  bound: the networks alone are {median['original'] / networks:.2f}x the original")
        if memory and default_path:
            print(f"  memory: auto peaks at {memory['auto'] / memory['ours']:.2f}x ours (torch fp32)")
        if memory:
            versus = ""
            if "transformers" in memory:
                versus = f", {memory['ours'] / memory['transformers']:.2f}x transformers'"
            print(f"  memory: ours uses {memory['ours'] / memory['original']:.2f}x the original's peak growth{versus}")
        row = {
            "size": size,
            "threshold": args.threshold,
            "seconds": median,
            "memory_mb": memory,
            "matches": len(results["original"][2]),
            "one_time_seconds": dict(ONE_TIME_COSTS),
        }
        precisions = ["bf16"] + (["fp16"] if args.device == "cuda" else [])
        for precision in precisions:
            mixed = runners["ours"](a, b, precision)
            seconds = float(
                np.median(
                    [median_time(lambda p=precision, a=a, b=b: runners["ours"](a, b, p), 1) for _ in range(args.runs)]
                )
            )
            print(
                f"  ours {precision}: {seconds:.2f} s ({median['ours'] / seconds:.2f}x our fp32); "
                f"vs our fp32: {keypoint_difference(mixed, results['ours'])}, "
                f"{len(mixed[2])} matches vs {len(results['ours'][2])}"
            )
            row[precision] = seconds
        report.append(row)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "rows": report}, handle, indent=2)


if __name__ == "__main__":
    main()
