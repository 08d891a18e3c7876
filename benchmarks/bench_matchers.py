"""The matchers besides EfficientLoFTR on this machine: seconds per pair, and for detector-based ones a 45-pair batch
with each image's features detected once (the batch's feature cache) against matching every pair from scratch.

    python benchmarks/bench_matchers.py [--matchers xfeat,xfeat-lighterglue,disk-lightglue,sift] [--runs 3] [--views 10]
    python benchmarks/bench_matchers.py --photo-pairs PAIRS.txt --images DIR   # match quality on your photos

Images: the rendered test scene (tests/rendered_scene.py): 640 x 480 views of photo-textured planes at several depths,
written as PNG, matched at the default 640 long side (so no resizing). Seconds per pair: the median of --runs runs on
views 0 and 1 from arrays, models loaded and warmed up first, both images detected in every run; printed with the
ratio to SIFT measured here. Batch: every pair of --views views (45 for 10) as a batch worker does it (load both
images from their files, match, in one process, models loaded before the clock starts), with the feature cache and
detecting both images of every pair, the two interleaved pair by pair (the same load on a shared machine); printed
with the speed-up.

--photo-pairs: instead, each listed pair of real photos ('name0 name1' per line, relative to --images) matched by each
matcher at the default 640 long side (EXIF orientation applied), with a fundamental matrix fitted by MAGSAC++ at the
default 3 px: matches, inliers and the inlier share per pair, the share's ratio to SIFT's.
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


def batch_seconds(name: str, paths: list[Path]) -> tuple[float, float, int]:
    """Seconds for every pair of `paths` as a batch worker matches them, with the feature cache and from scratch,
    interleaved pair by pair so that both see the same load on a shared machine; and the number of pairs."""
    options = MatchOptions(matcher=name)  # type: ignore[arg-type]
    pairs = list(itertools.combinations(paths, 2))
    cache = FeatureCache()
    cached = scratch = 0.0
    for path0, path1 in pairs:
        started = time.perf_counter()
        match_pair(load_image(path0), load_image(path1), options, cache=cache)
        middle = time.perf_counter()
        match_pair(load_image(path0), load_image(path1), options)
        cached, scratch = cached + middle - started, scratch + time.perf_counter() - middle
    return cached, scratch, len(pairs)


def photo_quality(names: list[str], pairs_file: Path, images: Path) -> None:
    from core.analysis.geometry import GeometryOptions, estimate

    print("pair: matches / F inliers (share) per matcher, 640 long side, MAGSAC++ 3 px")
    for line in pairs_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name0, name1 = line.split()[:2]
        image0, image1 = load_image(images / name0), load_image(images / name1)
        shares = {}
        cells = []
        for name in names:
            result = match_pair(image0, image1, MatchOptions(matcher=name))  # type: ignore[arg-type]
            kept = result.subset(result.keep(0.2))
            fit = estimate(kept.kpts0, kept.kpts1, GeometryOptions(model="F"))
            shares[name] = fit.inlier_count / max(len(kept), 1)
            cells.append(f"{name} {len(kept)} / {fit.inlier_count} ({shares[name]:.0%})")
        ratios = ", ".join(f"{n} {shares[n] / shares[REFERENCE]:.1f}x" for n in names if shares[REFERENCE] > 0)
        print(f"  {name0} {name1}: " + "; ".join(cells) + f"; inlier share vs SIFT: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matchers", default="xfeat,xfeat-lighterglue,disk-lightglue,sift")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--photo-pairs", type=Path, help="pairs file of real photos: match quality instead of time")
    parser.add_argument("--images", type=Path, help="folder the --photo-pairs names are relative to")
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
    if args.photo_pairs is not None:
        photo_quality(names, args.photo_pairs, args.images or args.photo_pairs.parent)
        return
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
            cached, scratch, count = batch_seconds(name, paths)
            print(
                f"  {name:18} {count} pairs: features cached {cached:7.1f} s, from scratch {scratch:7.1f} s: "
                f"{scratch / cached:5.1f}x faster with the cache"
            )
            # Both runs match every pair; scratch detects 2 x pairs images, the cache each image once. Hence the
            # seconds per detection and per pair (matching and loading), and what the cache can give at that ratio.
            detect = (scratch - cached) / (2 * count - len(paths))
            per_pair = (cached - len(paths) * detect) / count
            print(
                f"  {'':18} derived: {detect:.3f} s per image detected, {per_pair:.3f} s per pair matched (with "
                f"loading); the cache's ceiling with matching free: {2 * count / len(paths):.0f}x"
            )


if __name__ == "__main__":
    main()
