"""Deployment backends: the exported ONNX matcher run by ONNX Runtime or OpenVINO, compiled once and kept.

The ONNX file for a weights file and variant is exported on first use into the cache folder (named by the weights'
SHA-256 and the variant), or given by the caller (MatchOptions.onnx_model) and then checked against the weights and
variant. Each backend returns the feature maps the graph ends at; core.model.efficientloftr.match_feature_maps
turns them into matches exactly as the PyTorch path does.

Memory: the coarse matching after the graph needs one confidence matrix (600 MB at 1024x768), so the runtimes give
their working memory back after each run instead of keeping it for the next (ONNX Runtime without its arena plus
malloc_trim, OpenVINO's release_memory); otherwise their peak and the matrix would add up.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import OptionsError
from core.formats.files import sha256_of
from core.formats.user_folders import cache_dir
from core.matchers.onnx_export import (
    FORMAT_VERSION,
    INPUT_NAMES,
    OnnxModelError,
    check_onnx_matches,
    export_onnx,
    read_onnx_metadata,
)
from core.model.config import EfficientLoFTRConfig
from core.types import MatchOptions

ProgressCallback = Callable[[str, float], None]

# What each backend needs installed, and the extra that installs it.
REQUIREMENTS = {"onnxruntime": (("onnxruntime", "onnx", "onnxscript"), "onnx"), "openvino": (("openvino",), "openvino")}
BACKENDS = ("torch", *REQUIREMENTS)
# Precisions each ONNX backend runs: OpenVINO's bf16 uses the CPU's bf16 instructions (AVX512-BF16, AMX) for the
# convolutions and matrix products; ONNX Runtime's CPU provider computes in fp32.
PRECISIONS = {"onnxruntime": ("fp32",), "openvino": ("fp32", "bf16")}


@dataclass(frozen=True)
class BackendInfo:
    backend: str  # torch | onnxruntime | openvino
    version: str
    execution_provider: str  # e.g. CPUExecutionProvider (ONNX Runtime), CPU (OpenVINO), cpu / cuda (torch)


FeatureMaps = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # coarse0, coarse1, fine0, fine1 (float32)


class CompiledMatcher(Protocol):
    info: BackendInfo
    config: EfficientLoFTRConfig  # the exported model's, for the matching after the graph

    def features(self, gray0: np.ndarray, gray1: np.ndarray) -> FeatureMaps:
        """(H0, W0) and (H1, W1) float32 gray images, sides multiples of 32 -> the graph's feature maps."""
        ...


def _feeds(gray0: np.ndarray, gray1: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip(INPUT_NAMES, (gray0[None, None], gray1[None, None])))


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc only), as the runtimes free their buffers after a run."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (musl): nothing to trim
            pass


def missing_packages(backend: str) -> str | None:
    """None when `backend` can run here, else what to install, in words."""
    if backend == "torch":
        return None
    if backend not in REQUIREMENTS:
        raise OptionsError(f"unknown backend '{backend}' (use {', '.join(BACKENDS)})")
    packages, extra = REQUIREMENTS[backend]
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if backend == "openvino":  # it runs the ONNX file, which is exported with the [onnx] packages
        missing += [p for p in ("onnx", "onnxscript") if importlib.util.find_spec(p) is None]
    if not missing:
        return None
    return f"the {backend} backend needs {', '.join(missing)}: pip install 'match-inspector[{extra}]'"


_hash_lock = threading.Lock()
_hashes: dict[tuple[str, int, int], str] = {}


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weights file, remembered while the file's size and modification time stay the same."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        if key not in _hashes:
            _hashes[key] = sha256_of(path)
        return _hashes[key]


class OnnxRuntimeMatcher:
    def __init__(self, onnx_path: Path, device: str, config: EfficientLoFTRConfig) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise OptionsError("CUDA was asked for but this onnxruntime has no CUDA provider (onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        elif device not in ("auto", "cpu"):
            raise OptionsError(f"the onnxruntime backend runs on cpu or cuda, not '{device}'")
        options = ort.SessionOptions()
        # As torch.set_flush_denormal: float32 denormals take a slow path on CPU and do not change the matches.
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        options.enable_cpu_mem_arena = False  # see the module docstring
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own error types for broken graphs
            raise OnnxModelError(f"onnxruntime cannot load {onnx_path.name}: {str(exc).splitlines()[0]}") from exc
        self.info = BackendInfo("onnxruntime", ort.__version__, self.session.get_providers()[0])
        self.config = config

    def features(self, gray0: np.ndarray, gray1: np.ndarray) -> FeatureMaps:
        coarse0, coarse1, fine0, fine1 = self.session.run(None, _feeds(gray0, gray1))
        give_back_freed_memory()
        return coarse0, coarse1, fine0, fine1


class OpenVinoMatcher:
    def __init__(self, onnx_path: Path, device: str, config: EfficientLoFTRConfig, precision: str = "fp32") -> None:
        import openvino as ov

        if device not in ("auto", "cpu"):
            raise OptionsError(f"the openvino backend runs on cpu here, not '{device}'")
        core = ov.Core()
        if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise OptionsError("this CPU has no bf16 instructions OpenVINO can use; choose --precision fp32")
        # Compiled blobs are kept on disk, so a later process compiles in a fraction of the time. One folder per
        # precision: OpenVINO's blob key leaves the precision hint out, and a bf16 compile that found the fp32 blob
        # of the same file returned no matches at all.
        core.set_property({"CACHE_DIR": str(cache_dir() / "openvino" / precision)})
        settings = {
            # Asked for explicitly: OpenVINO would pick bf16 by itself on CPUs that have it.
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision],
            "CPU_DENORMALS_OPTIMIZATION": "YES",
        }
        try:
            self.compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", settings)
        except Exception as exc:  # OpenVINO raises RuntimeError with long multi-line texts
            raise OnnxModelError(f"openvino cannot compile {onnx_path.name}: {str(exc).splitlines()[0]}") from exc
        self.request = self.compiled.create_infer_request()
        self.info = BackendInfo("openvino", ov.get_version(), "CPU")
        self.config = config

    def features(self, gray0: np.ndarray, gray1: np.ndarray) -> FeatureMaps:
        results = self.request.infer(_feeds(gray0, gray1))
        # Copied out (a few MB) so the request's buffers can go back: see the module docstring.
        coarse0, coarse1, fine0, fine1 = (np.array(results[i], np.float32) for i in range(4))
        self.compiled.release_memory()
        give_back_freed_memory()
        return coarse0, coarse1, fine0, fine1


def compile_onnx(onnx_path: Path, backend: str, device: str = "auto", precision: str = "fp32") -> CompiledMatcher:
    """Load an exported file into `backend` (onnxruntime | openvino), unchecked: load_compiled() checks labels."""
    config = EfficientLoFTRConfig.from_dict(read_onnx_metadata(onnx_path).config)
    if backend == "onnxruntime":
        return OnnxRuntimeMatcher(onnx_path, device, config)
    if backend == "openvino":
        return OpenVinoMatcher(onnx_path, device, config, precision)
    raise OptionsError(f"unknown ONNX backend '{backend}' (use onnxruntime or openvino)")


_cache_lock = threading.Lock()
_compiled: dict[tuple[Any, ...], CompiledMatcher] = {}


def onnx_cache_path(weights_sha256: str, variant: str) -> Path:
    return cache_dir() / "onnx" / f"efficientloftr-{weights_sha256[:16]}-{variant}-v{FORMAT_VERSION}.onnx"


def load_compiled(options: MatchOptions, progress: ProgressCallback | None = None) -> CompiledMatcher:
    """The matcher for options.backend (not torch), exported and compiled on first use, then kept.

    Raises ValueError (OnnxModelError, WeightsError included) with one clear message on anything unusable.
    """
    from core.model.weights import resolve_source

    problem = missing_packages(options.backend)
    if problem:
        raise OptionsError(problem)
    precisions = PRECISIONS[options.backend]
    if options.precision not in precisions:
        raise OptionsError(
            f"the {options.backend} backend runs {' or '.join(precisions)}, not {options.precision}; "
            "choose one of those or --backend torch"
        )
    weights_path, _ = resolve_source(options.weights, local_files_only=options.local_files_only)
    sha = weights_sha256(weights_path)
    key = (sha, options.variant, options.backend, options.device, options.onnx_model, options.precision)
    with _cache_lock:
        if key in _compiled:
            return _compiled[key]

    onnx_path = Path(options.onnx_model) if options.onnx_model else onnx_cache_path(sha, options.variant)
    if options.onnx_model is None and not onnx_path.is_file():
        try:
            onnx_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OptionsError(f"cannot create the model cache folder {onnx_path.parent}: {exc.strerror}") from exc
        export_onnx(str(weights_path), options.variant, onnx_path, progress, options.local_files_only)
    check_onnx_matches(onnx_path, sha, options.variant)
    if progress is not None:
        progress(f"compiling for {options.backend}", 0.0)
    matcher = compile_onnx(onnx_path, options.backend, options.device, options.precision)
    if progress is not None:
        progress(f"compiling for {options.backend}", 1.0)
    with _cache_lock:
        _compiled.clear()  # one compiled model at a time: they hold a lot of memory
        _compiled[key] = matcher
    return matcher
