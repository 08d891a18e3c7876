"""The matchers besides EfficientLoFTR on this machine: seconds per pair, and for detector-based ones a 45-pair batch
with each image's features detected once (the batch's feature cache) against matching every pair from scratch.

    python benchmarks/bench_matchers.py [--matchers xfeat,xfeat-lighterglue,sift] [--runs 3] [--views 10]

Images: the rendered test scene (tests/rendered_scene.py): 640 x 480 views of photo-textured planes at several depths,
written as PNG, matched at the default 640 long side (so no resizing). Seconds per pair: the median of --runs runs on
views 0 and 1 from arrays, models loaded and warmed up first, both images detected in every run; printed with the
ratio to SIFT measured here. Batch: every pair of --views views (45 for 10) as a batch worker does it (load both
images from their files, match, in one process, models loaded before the clock starts), once with the feature cache
and once detecting both images of every pair; printed with the speed-up.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from common import machine  # also flushes float32 denormals in this process

from core.formats.images import load_image
from core.matchers.detector import FeatureCache
from core.matchers.match import match_pair
from core.matchers.registry import matcher_spec
from core.types import MatchOptions
from tests.rendered_scene import render_scene

REFERENCE = "sift"


def seconds_per_pair(name: str, images: list, runs: int) -> float:
    from machine_info import median_time

    options = MatchOptions(matcher=name)  # type: ignore[arg-type]
    match_pair(images[0], images[1], options)  # load the model, warm up
    return median_time(lambda: match_pair(images[0], images[1], options), runs)


def batch_seconds(name: str, paths: list[Path], cached: bool) -> tuple[float, int]:
    """Seconds for every pair of `paths` as a batch worker matches them, and the number of pairs."""
    options = MatchOptions(matcher=name)  # type: ignore[arg-type]
    pairs = list(itertools.combinations(paths, 2))
    cache = FeatureCache() if cached else None
    started = time.perf_counter()
    for path0, path1 in pairs:
        match_pair(load_image(path0), load_image(path1), options, cache=cache)
    return time.perf_counter() - started, len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matchers", default="xfeat,xfeat-lighterglue,sift")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--views", type=int, default=10)
    args = parser.parse_args()
    names = [name for name in args.matchers.split(",") if name]
    for name in names:
        spec = matcher_spec(name)
        if not spec.available:
            print(f"{name}: unavailable ({spec.reason}); left out")
    names = [name for name in names if matcher_spec(name).available]
    if REFERENCE not in names:
        names.append(REFERENCE)
    print(f"machine: {machine()}")
    scene = render_scene(args.views, size=(480, 640))
    arrays = [view.image for view in scene.views[:2]]
    print(f"pair: rendered views 0 and 1, 640 x 480; median of {args.runs} runs")
    timings = {name: seconds_per_pair(name, arrays, args.runs) for name in names}
    for name in names:
        print(f"  {name:18} {timings[name]:7.2f} s per pair   {timings[name] / timings[REFERENCE]:5.2f} x SIFT's time")
    with tempfile.TemporaryDirectory() as folder:
        paths = scene.write(Path(folder))
        print(f"batch: every pair of {len(paths)} views, loaded from PNG files, in this process")
        for name in names:
            if not matcher_spec(name).detector_based:
                continue
            cached, count = batch_seconds(name, paths, cached=True)
            scratch, _ = batch_seconds(name, paths, cached=False)
            print(
                f"  {name:18} {count} pairs: features cached {cached:7.1f} s, from scratch {scratch:7.1f} s: "
                f"{scratch / cached:5.1f}x faster with the cache"
            )


if __name__ == "__main__":
    main()
