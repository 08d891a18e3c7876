"""`match-inspector browse PATH [--images DIR]`: the window with a matching run's pairs open in it.

The run is opened (and a bad path refused with one line, exit 2) before any window appears.
"""

from __future__ import annotations

import argparse
import sys

from core.runs.base import MatchingRun, RunOpenError
from core.runs.open import open_run
from core.runs.reference_poses import ReferencePoses, find_model_beside, load_reference_poses


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise RunOpenError(message)  # one line on stderr, exit code 2, like the other commands


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="match-inspector browse",
        description="Browse every pair of a matching run: a COLMAP database, hloc matches.h5, or a batch folder.",
    )
    parser.add_argument("path", help="database.db, matches.h5 (features.h5 beside it) or a folder holding either")
    parser.add_argument("--images", help="the image folder (default: images/ beside the run, if present)")
    parser.add_argument("--pairs", help="hloc pairs file: the pairs to show, in its order")
    parser.add_argument(
        "--focal", type=float, help="focal length in pixels for every image (default: the run's cameras)"
    )
    parser.add_argument("--reference", help="COLMAP model folder with reference poses (default: sparse/0 beside)")
    return parser


def open_for_browsing(args: argparse.Namespace) -> tuple[MatchingRun, ReferencePoses | None, float | None]:
    """The run, its reference poses and the focal length typed for it. Raises RunOpenError with a message for the
    user."""
    if args.focal is not None and not args.focal > 0:
        raise RunOpenError(f"--focal must be a positive number of pixels, got {args.focal}")
    run = open_run(args.path, args.images, args.pairs)
    model = args.reference or find_model_beside(run.source)
    try:
        reference = load_reference_poses(model) if model is not None else None
    except RunOpenError:
        run.close()
        raise
    return run, reference, args.focal


def run_browse(argv: list[str]) -> int:
    try:
        run, reference, focal_px = open_for_browsing(build_parser().parse_args(argv))
    except RunOpenError as exc:
        print(f"match-inspector browse: {exc}", file=sys.stderr)
        return 2
    from .app import run_app

    return run_app([], then=lambda window: window.matching_run.open(run, reference, focal_px))
