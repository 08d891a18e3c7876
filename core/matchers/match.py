"""match_pair(): the app's one entry into matching, for every matcher. Returns numpy results (MatchResult)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Hashable

import numpy as np

from core.errors import OptionsError
from core.formats.images import LoadedImage
from core.matchers.detector import DetectorMatcher, FeatureCache, match_detected
from core.matchers.eloftr import CancelCheck, ProgressCallback, match_eloftr
from core.matchers.registry import require_available
from core.types import MatchOptions, MatchResult


def _as_rgb(image: LoadedImage | np.ndarray) -> np.ndarray:
    from core.formats.images import as_rgb8

    return image.pixels if isinstance(image, LoadedImage) else as_rgb8(image)


# Test-only: the crash tests set this variable to an image file name, and a process that matches that image dies of
# SIGFPE as a crash in the matcher's native code would (tests/core/test_cli.py, test_batch_executors.py, tests/gui).
# Not an option for users.
CRASH_TEST_VARIABLE = "MATCH_INSPECTOR_TEST_CRASH_ON"


def _crash_for_a_test(*images: LoadedImage | np.ndarray) -> None:
    name = os.environ.get(CRASH_TEST_VARIABLE)
    if name and any(isinstance(i, LoadedImage) and i.path is not None and i.path.name == name for i in images):
        if sys.platform != "win32":
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
        os.kill(os.getpid(), signal.SIGFPE)


def detector_matcher(options: MatchOptions) -> DetectorMatcher:
    """The adapter of a detector-based matcher; OptionsError when it is unknown, not detector-based or unavailable."""
    spec = require_available(options.matcher)
    if not spec.detector_based:
        raise OptionsError(f"matcher '{options.matcher}' does not detect features per image")
    if options.matcher == "sift":
        from core.matchers.sift import SiftMatcher, has_pycolmap

        return SiftMatcher(colmap=has_pycolmap())
    if options.matcher in ("xfeat", "xfeat-lighterglue"):
        from core.matchers.xfeat import XFeatMatcher

        return XFeatMatcher(options.matcher, options.device)
    from core.matchers.lightglue import LightGlueMatcher

    return LightGlueMatcher(options.matcher, options.device)


# This process's features of the images it matched, for the batch's pairs (core.batch.driver.match_job).
FEATURES = FeatureCache()


def image_identity(image: LoadedImage | np.ndarray) -> Hashable | None:
    """What makes two loads the same image for the feature cache: the file's SHA-256 and the frame it was read in;
    None for arrays (no identity: never cached)."""
    if not isinstance(image, LoadedImage) or image.path is None:
        return None
    from core.formats.files import file_sha256

    digest = file_sha256(image.path)
    return None if digest is None else (digest, image.exif_applied, image.orientation)


def match_pair(
    image0: LoadedImage | np.ndarray,
    image1: LoadedImage | np.ndarray,
    options: MatchOptions | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
    cache: FeatureCache | None = None,
) -> MatchResult:
    """Match two images with options.matcher. Raises MatchCancelled, WeightsError (no usable weights) or
    OptionsError (bad options, a matcher that is unknown or not installed). With `cache`, a detector-based matcher
    takes an image's features from it (images loaded from files) instead of detecting them again."""
    _crash_for_a_test(image0, image1)
    options = options or MatchOptions()
    rgb0, rgb1 = _as_rgb(image0), _as_rgb(image1)
    if options.matcher == "eloftr":
        from core.matchers.backend_choice import resolve_auto

        options, choice = resolve_auto(options, progress)
        return match_eloftr(rgb0, rgb1, options, progress, cancelled, choice.reason, choice.preparable)
    adapter = detector_matcher(options)
    identities = (image_identity(image0), image_identity(image1)) if cache is not None else (None, None)
    return match_detected(adapter, rgb0, rgb1, options, progress, cancelled, cache, identities)
