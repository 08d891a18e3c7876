"""match_pair(): the app's one entry into matching, for every matcher. Returns numpy results (MatchResult)."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from core.errors import OptionsError
from core.formats.images import LoadedImage
from core.matchers.eloftr import CancelCheck, ProgressCallback, match_eloftr
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


def match_pair(
    image0: LoadedImage | np.ndarray,
    image1: LoadedImage | np.ndarray,
    options: MatchOptions | None = None,
    progress: ProgressCallback | None = None,
    cancelled: CancelCheck | None = None,
) -> MatchResult:
    """Match two images. Raises MatchCancelled, WeightsError (no usable weights) or OptionsError (bad options)."""
    _crash_for_a_test(image0, image1)
    options = options or MatchOptions()
    rgb0, rgb1 = _as_rgb(image0), _as_rgb(image1)
    if options.matcher == "sift":
        from core.matchers.sift import match_sift

        return match_sift(rgb0, rgb1, progress=progress, cancelled=cancelled)
    if options.matcher != "eloftr":
        raise OptionsError(f"unknown matcher '{options.matcher}'")
    from core.matchers.backend_choice import resolve_auto

    options, choice = resolve_auto(options, progress)
    return match_eloftr(rgb0, rgb1, options, progress, cancelled, choice.reason, choice.preparable)
