"""Pair browser responsiveness on a generated run of 1,000 images and 20,000 pairs (COLMAP database).

    python benchmarks/bench_browser.py [--images 1000] [--pairs 20000] [--keep DIR]

The database is written in COLMAP's schema with sqlite3: ~2,000 keypoints per image, 100-2,000 matches per pair and
a verified two-view geometry for each. Figures (medians) against the goals, and against a reference measured in the
same run: the bare SQLite work the step cannot avoid (reading the pair_id/rows columns; fetching one pair's blobs).

- open: open_run + the browser's table model (pair list, counts, labels, sort ranks), goal < 2 s
- sort / filter: re-ordering all rows by each column, "fewer than 30 inliers", "name contains", goal < 100 ms,
  measured on the model and through the Qt table (offscreen, including the repaint of the visible rows)
- pair: reading one pair (keypoints, matches, inlier flags) as the inspector gets it, goal < 300 ms
- matrix: rebuilding the 1,000 x 1,000 heat map
- the same run as hloc files: opening (pair list only: hloc keeps no counts, so they are read in the background
  after opening, one dataset per pair), counting every pair, reading a pair
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from machine_info import ROOT, median_time

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from core.formats.colmap import SCHEMA, SIMPLE_RADIAL, pair_id  # noqa: E402

GOALS_S = {"open": 2.0, "sort/filter": 0.1, "pair": 0.3, "background": float("inf")}


def generate(path: Path, images: int, pairs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    w, h = 1024, 768
    keypoint_counts = rng.integers(1500, 2500, images)
    for image_id in range(1, images + 1):
        params = np.array([1.2 * w, w / 2, h / 2, 0.0]).tobytes()
        connection.execute("INSERT INTO cameras VALUES (?, ?, ?, ?, ?, ?)", (image_id, SIMPLE_RADIAL, w, h, params, 0))
        connection.execute("INSERT INTO images VALUES (?, ?, ?)", (image_id, f"img_{image_id:04d}.jpg", image_id))
        count = int(keypoint_counts[image_id - 1])
        keypoints = rng.uniform([0, 0], [w, h], (count, 2)).astype(np.float32)
        connection.execute("INSERT INTO keypoints VALUES (?, ?, ?, ?)", (image_id, count, 2, keypoints.tobytes()))
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < pairs:  # neighbours in a sequence plus random retrieval pairs, like a real run
        a = int(rng.integers(1, images + 1))
        b = int(np.clip(a + rng.integers(1, 40), 1, images)) if rng.random() < 0.7 else int(rng.integers(1, images + 1))
        if a != b:
            chosen.add((min(a, b), max(a, b)))
    for a, b in sorted(chosen):
        n = int(rng.integers(100, 2000))
        n = min(n, int(keypoint_counts[a - 1]), int(keypoint_counts[b - 1]))
        matches = np.column_stack(
            [rng.choice(keypoint_counts[a - 1], n, replace=False), rng.choice(keypoint_counts[b - 1], n, replace=False)]
        ).astype(np.uint32)
        inliers = matches[rng.random(n) < rng.uniform(0.05, 0.9)]
        key = pair_id(a, b)
        connection.execute("INSERT INTO matches VALUES (?, ?, ?, ?)", (key, n, 2, matches.tobytes()))
        connection.execute(
            "INSERT INTO two_view_geometries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, len(inliers), 2, inliers.tobytes(), 2, np.eye(3).tobytes(), None, None, None, None),
        )
    connection.commit()
    connection.close()


def generate_hloc(folder: Path, images: int, pairs: int, seed: int = 0) -> None:
    """The same shape of run in hloc's layout: features.h5 (keypoints, image_size) and matches.h5 (matches0)."""
    import h5py

    rng = np.random.default_rng(seed)
    counts = rng.integers(1500, 2500, images)
    with h5py.File(folder / "features.h5", "w") as features:
        for i in range(images):
            group = features.create_group(f"img_{i + 1:04d}.jpg")
            group.create_dataset("keypoints", data=rng.uniform(0, 1000, (counts[i], 2)).astype(np.float32))
            group.create_dataset("image_size", data=np.array([1024, 768]))
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < pairs:
        a, b = (int(v) for v in rng.integers(0, images, 2))
        if a != b:
            chosen.add((min(a, b), max(a, b)))
    with h5py.File(folder / "matches.h5", "w") as matches:
        for a, b in sorted(chosen):
            matches0 = np.full(counts[a], -1, np.int32)
            n = int(min(rng.integers(100, 2000), counts[a], counts[b]))
            matches0[rng.choice(counts[a], n, replace=False)] = rng.choice(counts[b], n, replace=False)
            group = matches.create_group(f"img_{a + 1:04d}.jpg/img_{b + 1:04d}.jpg")
            group.create_dataset("matches0", data=matches0)
            group.create_dataset("matching_scores0", data=np.where(matches0 > -1, 0.5, 0).astype(np.float16))


def hloc_figures(folder: Path, images: int, pairs: int) -> list[tuple[str, str, float, float | None]]:
    from core.runs.base import count_pairs
    from core.runs.open import open_run
    from gui.pair_table import PairTable

    if not (folder / "matches.h5").exists():
        started = time.perf_counter()
        generate_hloc(folder, images, pairs)
        print(f"generated hloc files in {time.perf_counter() - started:.1f} s")
    opened = median_time(lambda: PairTable(open_run(folder / "matches.h5")).run.close(), 3)
    run = open_run(folder / "matches.h5")
    started = time.perf_counter()
    count_pairs(run, run.uncounted(), lambda index, count: None)
    counting = time.perf_counter() - started
    picks = iter(np.random.default_rng(2).integers(0, len(run.pairs), 100).tolist())
    pair = median_time(lambda: run.read_pair(next(picks)), 50)
    run.close()
    return [
        ("open", "hloc: open run + table model", opened, None),
        ("background", "hloc: count all matches (background)", counting, None),
        ("pair", "hloc: open a pair (StoredPair)", pair, None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--keep", help="write the database here (kept) instead of a temporary folder")
    parser.add_argument("--no-hloc", action="store_true", help="skip the same run in hloc's layout")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-browser-"))
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "database.db"
    if not database.exists():
        started = time.perf_counter()
        generate(database, args.images, args.pairs)
        print(f"generated {database.stat().st_size / 1e6:.0f} MB database in {time.perf_counter() - started:.1f} s")

    from core.runs.open import open_run
    from gui.pair_table import COLUMN_KEYS, PairTable

    def raw_index() -> None:
        connection = sqlite3.connect(database)
        connection.execute("SELECT pair_id, rows FROM matches").fetchall()
        connection.execute("SELECT pair_id, rows, config FROM two_view_geometries").fetchall()
        connection.close()

    def open_table() -> PairTable:
        return PairTable(open_run(database))

    results: list[tuple[str, str, float, float | None]] = []  # goal, step, seconds, reference seconds
    reference = median_time(raw_index, 3)
    results.append(("open", "open run + table model", median_time(lambda: open_table().run.close(), 3), reference))
    table = open_table()
    print(f"{len(table.run.images)} images, {len(table)} pairs")

    # Fill our check's columns as a finished quick check would, so sorting by them sorts real values.
    fill = np.random.default_rng(3)
    table.check_inliers[:] = fill.integers(0, 2000, len(table))
    table.overlap[:] = fill.choice(["overlap", "small overlap", "no overlap found"], len(table))
    table.rotation[:] = fill.uniform(0, 90, len(table))
    table.pose_error[:] = fill.uniform(0, 30, len(table))
    for key in COLUMN_KEYS:
        results.append(("sort/filter", f"sort by {key}", median_time(lambda k=key: table.sort(k, True), 5), None))
    table.sort("pair")
    results.append(("sort/filter", "filter < 300 inliers", median_time(lambda: table.set_filter(300), 5), None))
    by_name = median_time(lambda: table.set_filter(None, "img_04"), 5)
    results.append(("sort/filter", "filter name contains", by_name, None))
    table.set_filter(None, "")

    rng = np.random.default_rng(1)
    picks = iter(rng.integers(0, len(table), 1000).tolist())
    connection = sqlite3.connect(database)

    def raw_pair() -> None:
        index = next(picks)
        key = int(table.run._pair_ids[index])  # type: ignore[attr-defined]
        a, b = key // 2147483647, key % 2147483647
        connection.execute("SELECT data FROM matches WHERE pair_id = ?", (key,)).fetchone()
        connection.execute("SELECT data FROM two_view_geometries WHERE pair_id = ?", (key,)).fetchone()
        connection.execute("SELECT data FROM keypoints WHERE image_id IN (?, ?)", (a, b)).fetchall()

    raw = median_time(raw_pair, 50)
    results.append(("pair", "open a pair (StoredPair)", median_time(lambda: table.run.read_pair(next(picks)), 50), raw))
    from core.runs.quick_check import check_pair

    # Generated matches are random (no geometry): MAGSAC++ runs to its iteration limit, the worst case.
    check = median_time(lambda: check_pair(table.run.read_pair(next(picks))), 10)
    results.append(("background", "quick check of one pair (F, E, H, overlap)", check, None))

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from gui.inspection import BrowsingContext
    from gui.views.pair_browser import PairBrowser
    from gui.views.pair_matrix import PairMatrix

    app = QApplication.instance() or QApplication([])
    context = BrowsingContext("browse", table.run, table.reference)
    browser = PairBrowser(context)
    browser.resize(900, 800)
    started = time.perf_counter()
    browser.set_table(table)
    browser.show()
    app.processEvents()
    results.append(("sort/filter", "browser widget: set run + show", time.perf_counter() - started, None))
    viewport = browser.view.viewport()

    def header_sort(column: int, order: Qt.SortOrder) -> None:
        browser.view.sortByColumn(column, order)
        viewport.repaint()

    for column, key in enumerate(COLUMN_KEYS[:3]):
        orders = iter([Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder] * 5)
        step = median_time(lambda c=column, o=orders: header_sort(c, next(o)), 6)
        results.append(("sort/filter", f"browser widget: sort by {key} + repaint", step, None))

    def keyboard_step() -> None:
        row = browser.view.currentIndex().row()
        browser.view.setCurrentIndex(browser.model.index(row + 1, 0))  # what Key_Down does: reads and emits
        viewport.repaint()

    browser.view.setCurrentIndex(browser.model.index(0, 0))
    results.append(("pair", "browser widget: next row (read + emit)", median_time(keyboard_step, 30), None))
    matrix = PairMatrix(context)
    matrix.resize(800, 800)
    matrix.set_table(table)
    matrix.show()
    app.processEvents()
    results.append(("sort/filter", "matrix: rebuild 1000 x 1000 heat map", median_time(matrix.redraw, 5), None))
    browser.shutdown()
    if not args.no_hloc:
        (folder / "hloc").mkdir(exist_ok=True)
        results += hloc_figures(folder / "hloc", args.images, args.pairs)

    print(f"{'step':44} {'median':>10} {'goal':>8} {'ratio':>7}  vs bare SQLite")
    for goal, step, seconds, reference_s in results:
        limit = GOALS_S[goal]
        extra = f"  {seconds / reference_s:.1f}x the bare read" if reference_s else ""
        if limit == float("inf"):  # no goal: the window stays usable while it runs
            print(f"{step:44} {seconds * 1000:8.1f} ms {'-':>9} {'-':>7}  [no goal: runs in the background]")
            continue
        verdict = "met" if seconds < limit else "NOT met"
        print(f"{step:44} {seconds * 1000:8.1f} ms {limit * 1000:6.0f} ms {seconds / limit:6.2f}x  [{verdict}]{extra}")


if __name__ == "__main__":
    main()
