"""Run several matchers on one pair and tabulate them (core.analysis.matcher_table): the headless `compare` command.

Each matcher runs through `run` (by default its own worker process, core.matchers.worker_process, so a crash in one
matcher's native code costs its row, not the table). A matcher the registry says cannot run here, or one that fails,
gets its reason in the table instead of figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np

from core.analysis.matcher_table import MatcherRow, TableInputs, matcher_row, matching_seconds, missing_row
from core.errors import MatcherDied, UserError, user_message
from core.matchers.registry import MatcherSpec
from core.types import Matcher, MatchOptions, MatchResult

Runner = Callable[..., Any]  # run(function, *args) -> function(*args), e.g. core.matchers.worker_process.run_in_worker


WARM_UP_SIDE = 160  # px: the warm-up pair, small enough to cost little, large enough for every matcher's input


def _small(image: Any) -> np.ndarray:
    """A small copy of an image (LoadedImage or array) for the warm-up run."""
    import cv2

    pixels = image.pixels if hasattr(image, "pixels") else np.asarray(image)
    scale = WARM_UP_SIDE / max(pixels.shape[:2])
    return cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else pixels


def timed_match(image0: Any, image1: Any, options: MatchOptions, warm_up: bool = True) -> tuple[MatchResult, float]:
    """match_pair and its matching time, measured where it runs. With `warm_up`, the matcher first runs once on small
    copies of the pair, so that importing its libraries and loading its model (once per process in real use) are
    not counted as the pair's time; any model loading it reports apart is left out as well."""
    from core.matchers.match import match_pair

    if warm_up:
        try:
            match_pair(_small(image0), _small(image1), options)
        except Exception:  # the pair itself will fail the same way, and say why
            pass
    started = time.perf_counter()
    result = match_pair(image0, image1, options)
    return result, matching_seconds(time.perf_counter() - started, result)


def _reason(exc: BaseException) -> str:
    """A table cell, not a paragraph: what went wrong, without the advice that follows it."""
    if isinstance(exc, MatcherDied):
        return str(exc)
    text = user_message(exc)
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _direct(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def compare_matchers(
    image0: Any,
    image1: Any,
    specs: Sequence[MatcherSpec],
    options: MatchOptions,
    inputs: TableInputs,
    run: Runner = _direct,
    on_row: Callable[[MatcherRow], None] | None = None,
) -> tuple[list[MatcherRow], dict[str, MatchResult]]:
    """One row per spec, in their order, and the results of those that ran. `options` are the shared settings
    (size, device, weights); each matcher gets them with its own name."""
    rows: list[MatcherRow] = []
    results: dict[str, MatchResult] = {}
    for spec in specs:
        if not spec.available:
            row = missing_row(spec.name, spec.label, f"unavailable: {spec.reason}")
        else:
            try:
                result, seconds = run(timed_match, image0, image1, replace(options, matcher=cast(Matcher, spec.name)))
            except (UserError, MatcherDied, MemoryError) as exc:
                row = missing_row(spec.name, spec.label, f"failed: {_reason(exc)}")
            else:
                results[spec.name] = result
                row = matcher_row(spec.name, spec.label, result, seconds, inputs)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows, results
