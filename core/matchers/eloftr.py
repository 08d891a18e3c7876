"""EfficientLoFTR behind the matcher call: the model loaded once per options and kept, run in PyTorch or in an
exported backend (core.matchers.backends), keypoints mapped back to original pixels, the coarse evidence kept.
Returns numpy results; torch stays behind this line."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import numpy as np

from core.analysis.sizing import plan_inference_sizes
from core.default_weights import DEFAULT_HUB_ID
from core.errors import MatchCancelled, OptionsError
from core.matchers.backends import BackendInfo
from core.types import CoarseEvidence, MatchOptions, MatchResult, RunInfo

ProgressCallback = Callable[[str, float], None]  # (stage, fraction of the run done)
CancelCheck = Callable[[], bool]


_cache_lock = threading.Lock()
_cached: dict[tuple[Any, ...], Any] = {}


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionsError("CUDA was asked for but no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionsError("MPS was asked for but is not available on this machine")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise OptionsError(f"unknown device '{name}' (use auto, cpu, cuda, cuda:N or mps)")
    return name


def load_model(options: MatchOptions, progress: ProgressCallback | None = None) -> Any:
    """The EfficientLoFTR model for these options, loaded once and kept (weights, variant, device, fusing)."""
    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.weights import load_pretrained, resolve_source

    device = resolve_device(options.device)
    key = (options.weights, options.variant, device, options.fuse, options.local_files_only)
    with _cache_lock:
        if key in _cached:
            return _cached[key]

    _, found = resolve_source(options.weights, download_progress(progress), options.local_files_only)
    config = found or EfficientLoFTRConfig()
    if options.variant == "opt":
        config = replace(config, coarse_matching_skip_softmax=True)
    model = load_pretrained(
        EfficientLoFTRForKeypointMatching, options.weights, config=config, local_files_only=options.local_files_only
    )
    if options.fuse:
        model.optimize_for_inference()
    model = model.to(device)
    with _cache_lock:
        _cached.clear()  # one model at a time: they are large
        _cached[key] = model
    return model


def download_progress(progress: ProgressCallback | None) -> Callable[[str, int, int], None]:
    def download(name: str, done: int, total: int) -> None:
        if progress is not None:
            progress(f"downloading {name}", done / total if total else 0.0)

    return download


def loaded_weights_sha256(options: MatchOptions) -> str:
    """SHA-256 of the weights file the model was just loaded from (found locally now: a download has happened),
    remembered per file (core.matchers.backends)."""
    from core.matchers.backends import weights_sha256
    from core.model.weights import resolve_source

    path, _ = resolve_source(options.weights, local_files_only=True)
    return weights_sha256(path)


def _autocast(device: str, precision: str) -> Any:
    import torch

    if precision == "fp32":
        return nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def match_eloftr(
    rgb0: np.ndarray,
    rgb1: np.ndarray,
    options: MatchOptions,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    backend_reason: str = "asked for",
    backend_preparable: bool = False,
) -> MatchResult:
    """options.backend is a concrete one here (core.matchers.backend_choice resolves auto, with its reason)."""
    timings: dict[str, float] = {}
    output, backend, input_sizes, notes = _model_output(rgb0, rgb1, options, progress, cancelled, timings)
    valid = output.matches[0, 0] >= 0
    model_kpts0, model_kpts1 = (output.pixel_keypoints[0, side][valid].float().cpu().numpy() for side in (0, 1))
    scores = output.matching_scores[0, 0][valid].float().cpu().numpy()

    kpts = []
    for side, (rgb, model_kpts) in enumerate(zip((rgb0, rgb1), (model_kpts0, model_kpts1))):
        in_h, in_w = input_sizes[side]
        scale = np.array([rgb.shape[1] / in_w, rgb.shape[0] / in_h], dtype=np.float64)
        kpts.append((model_kpts.astype(np.float64) * scale).astype(np.float32))
    scores = scores.astype(np.float32)
    order = np.argsort(-scores, kind="stable")  # best first: views draw and tables list in this order
    coarse = coarse_evidence(output, valid, order) if options.keep_coarse_features else None
    info = RunInfo(
        matcher="eloftr",
        weights_source=str(options.weights or DEFAULT_HUB_ID),
        device=backend.execution_provider,
        precision=options.precision,
        inference_sizes=(input_sizes[0], input_sizes[1]),
        internal_threshold=options.internal_threshold,
        timings=timings,
        notes=tuple(notes) + (("opt variant: scores are similarity logits",) if options.variant == "opt" else ()),
        backend=backend.backend,
        backend_version=backend.version,
        execution_provider=backend.execution_provider,
        backend_reason=backend_reason,
        backend_preparable=backend_preparable,
        weights_sha256=loaded_weights_sha256(options),
    )
    if progress:
        progress("done", 1.0)
    return MatchResult(kpts[0][order], kpts[1][order], scores[order], (rgb0.shape[:2], rgb1.shape[:2]), info, coarse)


def run_model_output(
    rgb0: np.ndarray, rgb1: np.ndarray, options: MatchOptions, progress: ProgressCallback | None = None
) -> Any:
    """The model output (core.model.outputs.KeypointMatchingOutput) of one pair, for a concrete backend."""
    return _model_output(rgb0, rgb1, options, progress, None, {})[0]


def _model_output(
    rgb0: np.ndarray,
    rgb1: np.ndarray,
    options: MatchOptions,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
    timings: dict[str, float],
) -> tuple[Any, BackendInfo, tuple[tuple[int, int], tuple[int, int]], list[str]]:
    """Load (once), resize, run: the model output, who ran it, the inference sizes and notes; `timings` filled."""
    from core.processor import resize_gray, to_gray

    started = time.perf_counter()
    if progress:
        progress("loading model", 0.0)
    if options.backend == "torch":
        if options.onnx_model:
            raise OptionsError("an ONNX model runs with the onnxruntime or openvino backend, not torch")
        model = load_model(options, progress)
    else:
        from core.matchers.backends import load_compiled

        compiled = load_compiled(options, progress)
    timings["load"] = time.perf_counter() - started
    if cancelled is not None and cancelled():
        raise MatchCancelled()

    started = time.perf_counter()
    size = {"width": options.size[0], "height": options.size[1]} if options.size else None
    input_sizes, notes = plan_inference_sizes((rgb0.shape[:2], rgb1.shape[:2]), size, options.long_side)
    grays = [resize_gray(to_gray(rgb), *target) for rgb, target in zip((rgb0, rgb1), input_sizes)]
    timings["preprocess"] = time.perf_counter() - started

    if options.backend == "torch":
        output = _run_torch(model, grays, options, progress, cancelled)
        backend = _torch_info(str(next(model.parameters()).device))
    else:
        output, backend = run_compiled(compiled, grays, options.internal_threshold, progress, cancelled), compiled.info
    timings.update(output.timings)
    return output, backend, (input_sizes[0], input_sizes[1]), list(notes)


def _torch_info(device: str) -> BackendInfo:
    import torch

    return BackendInfo("torch", torch.__version__, device)


def _hooks(progress: ProgressCallback | None, cancelled: CancelCheck | None) -> Any:
    from core.model import StageHooks

    return StageHooks(progress=progress, cancelled=cancelled)


def _run_torch(
    model: Any,
    grays: list[np.ndarray],
    options: MatchOptions,
    progress: ProgressCallback | None,
    cancelled: CancelCheck | None,
) -> Any:
    """The eager model on (H, W) gray images: its output, keypoints in model-input pixels."""
    import torch

    from core.model import Cancelled

    device = next(model.parameters()).device
    tensors = [torch.from_numpy(gray)[None, None].to(device) for gray in grays]
    model.coarse_threshold = options.internal_threshold
    try:
        with torch.inference_mode(), _autocast(str(device), options.precision):
            return model(pixel_values0=tensors[0], pixel_values1=tensors[1], hooks=_hooks(progress, cancelled))
    except Cancelled as exc:
        raise MatchCancelled() from exc


def run_compiled(
    compiled: Any,
    grays: list[np.ndarray],
    threshold: float,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> Any:
    """The exported networks in their runtime, then the matching after them in the eager model's own code."""
    import torch

    from core.model import Cancelled
    from core.model.efficientloftr import match_feature_maps

    hooks = _hooks(progress, cancelled)
    try:
        started = hooks.enter("backbone")  # the graph runs backbone, transformer and fusion in one call
        coarse0, coarse1, fine0, fine1 = (torch.from_numpy(m) for m in compiled.features(grays[0], grays[1]))
        hooks.leave("backbone", started, torch.device("cpu"))
        hooks.timings[f"networks ({compiled.info.backend})"] = hooks.timings.pop("backbone")
        sizes = (grays[0].shape[:2], grays[1].shape[:2])
        with torch.inference_mode():
            return match_feature_maps(
                compiled.config,
                sizes,
                coarse0,
                coarse1,
                lambda step: (fine0, fine1),
                threshold,
                hooks,
            )
    except Cancelled as exc:
        raise MatchCancelled() from exc


def coarse_evidence(output: Any, valid: Any, order: np.ndarray) -> CoarseEvidence:
    """What core.analysis.ambiguity needs from pair 0 of a model output, rows in the result's `order`."""
    coarse = output.coarse
    cells0 = coarse.cells[0, 0][valid].cpu().numpy()[order]
    cells1 = coarse.cells[0, 1][valid].cpu().numpy()[order]
    lse = coarse.column_lse
    return CoarseEvidence(
        features0=np.ascontiguousarray(coarse.features0[0].float().cpu().numpy()[cells0]),
        features1=np.ascontiguousarray(coarse.features1[0].float().cpu().numpy()),
        column_lse=None if lse is None else lse[0].float().cpu().numpy(),
        cells0=cells0.astype(np.int64),
        cells1=cells1.astype(np.int64),
        grid0=coarse.grids[0],
        grid1=coarse.grids[1],
        temperature=coarse.temperature,
    )
