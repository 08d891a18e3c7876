"""Every matcher the app knows, whether it can run here and, when not, why; the default among them.

Torch-free (availability is read from installed packages and the weights cache, nothing is imported), so the window
lists the matchers without loading any model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from core.default_weights import DEFAULT_HUB_ID, hub_weights_cached, offline_mode
from core.types import MatchOptions


@dataclass(frozen=True)
class MatcherSpec:
    name: str  # what MatchOptions.matcher and --matcher take
    label: str  # for people
    detector_based: bool  # keypoints per image, then matching (features can be cached per image)
    package: str  # the package that does the work
    available: bool
    reason: str  # why it cannot run here ("" when it can)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _eloftr_reason(weights: str | None = None) -> str:
    if not _installed("torch"):
        return "PyTorch is not installed"
    repo = weights or DEFAULT_HUB_ID
    if offline_mode() and not Path(repo).expanduser().exists() and not hub_weights_cached(repo):
        return f"offline mode (HF_HUB_OFFLINE) and the weights '{repo}' are not in the local cache"
    return ""


def matcher_specs() -> tuple[MatcherSpec, ...]:
    """Every matcher, in the order the window and --help list them."""
    eloftr = _eloftr_reason()
    sift = "" if _installed("cv2") else "OpenCV is not installed"
    return (
        MatcherSpec("eloftr", "EfficientLoFTR", False, "torch", not eloftr, eloftr),
        MatcherSpec("sift", "SIFT baseline (no weights)", True, "opencv-python", not sift, sift),
    )


def matcher_spec(name: str) -> MatcherSpec | None:
    return next((spec for spec in matcher_specs() if spec.name == name), None)


def default_matcher(options: MatchOptions | None = None) -> tuple[str, str]:
    """(name, why): EfficientLoFTR when its weights can be had, else the best matcher that runs offline."""
    options = options or MatchOptions()
    reason = _eloftr_reason(options.weights)
    if not reason:
        return "eloftr", "EfficientLoFTR weights are available"
    return "sift", f"EfficientLoFTR cannot run ({reason}): the SIFT baseline needs no weights"
