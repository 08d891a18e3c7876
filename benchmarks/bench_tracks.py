"""Tracks across a generated run of 1,000 images and 20,000 pairs (COLMAP database), headless and in the window.

    python benchmarks/bench_tracks.py [--images 1000] [--pairs 20000] [--skip-window] [--keep DIR]

The run: 3D points seen by a stretch of 2-40 consecutive images along a sequence (as a walk-through video or a
photo series gives), each image keeping ~4,000 keypoints (its observations in shuffled order plus unmatched ones);
pairs are neighbours up to 20 apart (sequential matching), 100-600 verified matches each, 2 % of them re-pointed to a
random keypoint (wrong matches, so conflicts exist) and the raw matches holding 25 % more. Figures (medians):

- build: open_run + core.tracks.build_tracks (read the verified matches, union-find, conflicts, near keypoints),
  goal <= 10 s; the reference in the same run is COLMAP's own correspondence graph built by pycolmap
  (DatabaseCache.create on the same database), when pycolmap is installed
- window (offscreen Qt): the longest event-loop gap while the window builds the tracks in the background, goal
  <= 50 ms, measured by a 5 ms timer from the moment the window has opened the run (pair table and first pair
  shown) to the tracks shown; the gaps while it opens the run, against the same opening with the track dock
  unhooked (reference, measured in the same run); the time from clicking a keypoint to the track strip shown
  (patches of every image the track reaches, images read from disk: 640x480 JPEGs, generated), goal <= 100 ms
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from machine_info import ROOT, cpu_description, median_time

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from core.formats.colmap import SCHEMA, SIMPLE_RADIAL, pair_id  # noqa: E402

GOALS = {"build_s": 10.0, "gap_ms": 50.0, "track_ms": 100.0}
SIZE = (480, 640)  # height, width
NEIGHBOURS = 20


def _pairs(images: int, pairs: int) -> list[tuple[int, int]]:
    """Sequential pairs (0-based image indices), neighbours 1..NEIGHBOURS apart, the first `pairs` of them."""
    chosen = [(a, a + k) for k in range(1, NEIGHBOURS + 1) for a in range(images - k)]
    return sorted(chosen[:pairs])


def _keypoints_of(point_ids: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The keypoint of an image that observes each of `points` (all observed)."""
    order = np.argsort(point_ids)
    return order[np.searchsorted(point_ids[order], points)]


def generate(path: Path, images: int, pairs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    h, w = SIZE
    # points: each seen by a stretch of consecutive images
    starts = rng.integers(-40, images, images * 1200)
    lengths = rng.integers(2, 41, len(starts))
    observations_of: list[list[np.ndarray]] = [[] for _ in range(images)]
    for offset in range(40):
        seen = offset < lengths
        image = starts + offset
        inside = seen & (image >= 0) & (image < images)
        points = np.flatnonzero(inside)
        order = np.argsort(image[points], kind="stable")
        bounds = np.searchsorted(image[points][order], np.arange(1, images))
        for i, seen_here in enumerate(np.split(points[order], bounds)):
            observations_of[i].append(seen_here)
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    point_ids: list[np.ndarray] = []
    for i in range(images):
        seen = rng.permutation(np.concatenate(observations_of[i]))[:3500]
        total = len(seen) + 500  # plus keypoints no match uses
        ids = np.full(total, -1, np.int64)
        ids[rng.permutation(total)[: len(seen)]] = seen
        point_ids.append(ids)
        params = np.array([1.2 * w, w / 2, h / 2, 0.0]).tobytes()
        connection.execute("INSERT INTO cameras VALUES (?, ?, ?, ?, ?, ?)", (i + 1, SIMPLE_RADIAL, w, h, params, 1))
        connection.execute("INSERT INTO images VALUES (?, ?, ?)", (i + 1, f"img_{i:04d}.jpg", i + 1))
        keypoints = rng.uniform([0, 0], [w, h], (total, 2)).astype(np.float32)
        connection.execute("INSERT INTO keypoints VALUES (?, ?, ?, ?)", (i + 1, total, 2, keypoints.tobytes()))
    raw_rows, verified_rows = [], []
    identity = np.eye(3).tobytes()
    for a, b in _pairs(images, pairs):
        ids_a, ids_b = point_ids[a], point_ids[b]
        common = np.intersect1d(ids_a[ids_a >= 0], ids_b[ids_b >= 0])
        common = rng.permutation(common)[: int(rng.integers(100, 600))]
        matches = np.column_stack([_keypoints_of(ids_a, common), _keypoints_of(ids_b, common)]).astype(np.uint32)
        wrong = rng.random(len(matches)) < 0.02
        matches[wrong, 1] = rng.integers(0, len(ids_b), int(wrong.sum()))
        extra = np.column_stack(
            [rng.integers(0, len(ids_a), len(matches) // 4), rng.integers(0, len(ids_b), len(matches) // 4)]
        ).astype(np.uint32)
        raw = np.concatenate([matches, extra])
        key = pair_id(a + 1, b + 1)
        raw_rows.append((key, len(raw), 2, raw.tobytes()))
        verified_rows.append((key, len(matches), 2, matches.tobytes(), 2, identity, identity, identity))
    connection.executemany("INSERT INTO matches VALUES (?, ?, ?, ?)", raw_rows)
    connection.executemany(
        "INSERT INTO two_view_geometries (pair_id, rows, cols, data, config, F, E, H) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        verified_rows,
    )
    connection.commit()
    connection.close()


def write_images(folder: Path, images: int) -> None:
    """Textured 640x480 JPEGs, one per image of the run (for the track strip's patches)."""
    from PIL import Image

    from core.analysis.synthetic import textured_scene

    folder.mkdir(parents=True, exist_ok=True)
    h, w = SIZE
    base = textured_scene(h, w, 0)
    for i in range(images):
        Image.fromarray(np.roll(base, i * 7, axis=1)).save(folder / f"img_{i:04d}.jpg", quality=90)


def bench_build(database: Path) -> dict[str, float]:
    from core.runs.open import open_run
    from core.tracks.build import build_tracks

    def build() -> None:
        with open_run(database) as run:
            built = build_tracks(run)
        figures["tracks"] = len(built.tracks)
        figures["matches"] = len(built.tracks.graph.pair)
        figures["conflicting"] = int(np.count_nonzero(built.conflicts.track))

    figures: dict[str, float] = {}
    figures["build_s"] = median_time(build, 3)
    try:
        import pycolmap
    except ImportError:
        return figures

    def reference() -> None:
        db = pycolmap.Database.open(str(database))
        pycolmap.DatabaseCache.create(db, pycolmap.DatabaseCacheOptions())
        db.close()

    figures["colmap_s"] = median_time(reference, 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--skip-window", action="store_true")
    parser.add_argument("--keep", help="write the run into this folder (kept)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep) if args.keep else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "database.db"
        started = time.perf_counter()
        if not database.exists():
            generate(database, args.images, args.pairs)
        print(
            f"{cpu_description()}; run of {args.images} images, {args.pairs} pairs, generated in "
            f"{time.perf_counter() - started:.1f} s ({database.stat().st_size / 1e6:.0f} MB)"
        )
        figures = bench_build(database)
        line = (
            f"build: {figures['build_s']:.2f} s (goal <= {GOALS['build_s']:.0f} s) for {figures['tracks']:.0f} tracks "
            f"from {figures['matches']:.0f} verified matches, {figures['conflicting']:.0f} conflicting"
        )
        if "colmap_s" in figures:
            line += (
                f"; COLMAP's correspondence graph (pycolmap DatabaseCache) {figures['colmap_s']:.2f} s, "
                f"ratio {figures['build_s'] / figures['colmap_s']:.2f}x"
            )
        print(line)
        if not args.skip_window:
            images = folder / "images"
            if not images.is_dir():
                write_images(images, args.images)
            from bench_tracks_window import bench_window, opening_without_tracks

            reference_ms = opening_without_tracks(database, images)
            window = bench_window(database, images)
            print(
                f"window: longest event-loop gap while the tracks build, once the run is open "
                f"{window['gap_ms']:.0f} ms (goal <= {GOALS['gap_ms']:.0f} ms; {window['build_s']:.2f} s to build in "
                f"the background, ratio {window['build_s'] / figures['build_s']:.2f}x the headless build); "
                f"while the window opens the run ({window['opening_s']:.2f} s: pair table, first pair, track dock, "
                f"the build starting) {window['opening_gap_ms']:.0f} ms, {reference_ms:.0f} ms without the track "
                f"dock (ratio {window['opening_gap_ms'] / reference_ms:.2f}x); "
                f"click to track strip {window['track_ms']:.0f} ms median, {window['track_max_ms']:.0f} ms at most, "
                f"over {window['clicks']:.0f} tracks of 3+ images (goal <= {GOALS['track_ms']:.0f} ms; longest "
                f"{window['longest']:.0f} images; image files decoded on first use)"
            )


if __name__ == "__main__":
    main()
