"""The figures of a track build per image and per pair, worst first, as `match-inspector tracks` writes them.

JSON: {"summary": {...}, "images": [...], "pairs": [...]}. CSV: one row per image ("kind" image) then one per pair
("kind" pair) under one header; a field that does not apply to the row's kind is empty, a track-length histogram is
written "LENGTH:COUNT" separated by spaces. Images are listed most conflicting tracks first, pairs most conflicting
matches first (ties: fewest triangulated, then the run's order).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from core.formats.files import write_atomically
from core.runs.base import MatchingRun
from core.tracks.build import RunTracks

REPORT_FORMATS = (".json", ".csv")
CSV_COLUMNS = (
    "kind",
    "image",
    "image1",
    "keypoints",
    "tracks",
    "track_lengths",
    "conflicting_tracks",
    "near_1px",
    "near_2px",
    "registered",
    "triangulated",
    "correspondences_2d3d",
    "matches",
    "conflicting_matches",
    "triangulated_share",
)


def image_track_lengths(built: RunTracks, image_count: int) -> list[dict[int, int]]:
    """Per image: length -> number of tracks through the image with that length."""
    tracks = built.tracks
    graph = tracks.graph
    order = tracks.node_order
    ordered_tracks, ordered_images = tracks.track[order], graph.image[order]
    first = np.ones(len(order), bool)
    first[1:] = (ordered_tracks[1:] != ordered_tracks[:-1]) | (ordered_images[1:] != ordered_images[:-1])
    images, lengths = ordered_images[first].astype(np.int64), tracks.length[ordered_tracks[first]].astype(np.int64)
    span = int(lengths.max(initial=0)) + 1
    keys, counts = np.unique(images * span + lengths, return_counts=True)
    histograms: list[dict[int, int]] = [{} for _ in range(image_count)]
    for key, count in zip(keys, counts):
        histograms[int(key // span)][int(key % span)] = int(count)
    return histograms


def summary(run: MatchingRun, built: RunTracks) -> dict[str, Any]:
    tracks, graph = built.tracks, built.tracks.graph
    found = built.triangulation
    return {
        "run": str(run.source),
        "format": run.kind,
        "matches_used": "verified" if graph.verified else "raw",
        "keypoints": graph.identity,
        "conflict_px": built.options.conflict_px,
        "images": len(run.images),
        "pairs": len(run.pairs),
        "matches": len(graph.pair),
        "tracks": len(tracks),
        "track_lengths": tracks.histogram(),
        "conflicting_tracks": int(np.count_nonzero(built.conflicts.track)),
        "conflicting_matches": int(np.count_nonzero(built.conflicts.edge)),
        "build_seconds": round(built.seconds, 3),
        "model": None if found is None else str(found.source),
        "registered_images": None if found is None else int(found.registered.sum()),
        "triangulated_matches": None if found is None else int(found.edge.sum()),
    }


def image_rows(run: MatchingRun, built: RunTracks) -> list[dict[str, Any]]:
    graph, found = built.tracks.graph, built.triangulation
    count = len(run.images)
    keypoints = np.bincount(graph.image, minlength=count)
    histograms = image_track_lengths(built, count)
    rows = []
    for index, image in enumerate(run.images):
        row: dict[str, Any] = {
            "image": image.name,
            "keypoints": int(keypoints[index]),
            "tracks": sum(histograms[index].values()),
            "track_lengths": histograms[index],
            "conflicting_tracks": int(built.conflicts.image[index]),
        }
        for radius, counts in built.near.items():
            row[f"near_{radius:g}px"] = int(counts[index])
        if found is not None:
            row["registered"] = bool(found.registered[index])
            row["triangulated"] = int(found.image_points[index])
            row["correspondences_2d3d"] = int(found.correspondences_2d3d[index])
        rows.append(row)
    order = sorted(range(count), key=lambda i: (-rows[i]["conflicting_tracks"], i))
    return [rows[i] for i in order]


def pair_rows(run: MatchingRun, built: RunTracks) -> list[dict[str, Any]]:
    graph, found = built.tracks.graph, built.triangulation
    count = len(run.pairs)
    matches = np.bincount(graph.pair, minlength=count)
    rows = []
    for index in range(count):
        name0, name1 = run.pair_names(index)
        row: dict[str, Any] = {
            "image": name0,
            "image1": name1,
            "matches": int(matches[index]),
            "conflicting_matches": int(built.conflicts.pair[index]),
        }
        if found is not None:
            row["triangulated"] = int(found.pair[index])
            row["triangulated_share"] = round(float(found.pair[index] / matches[index]), 4) if matches[index] else None
        rows.append(row)
    order = sorted(range(count), key=lambda i: (-rows[i]["conflicting_matches"], rows[i].get("triangulated", 0), i))
    return [rows[i] for i in order]


def write_report(path: Path, run: MatchingRun, built: RunTracks) -> None:
    """Raises OSError."""
    images, pairs = image_rows(run, built), pair_rows(run, built)
    if path.suffix.lower() == ".json":
        document = {"summary": summary(run, built), "images": images, "pairs": pairs}
        write_atomically(path, lambda tmp: tmp.write_text(json.dumps(document, indent=1)))
        return

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for kind, rows in (("image", images), ("pair", pairs)):
                for row in rows:
                    cells = dict(row, kind=kind)
                    if "track_lengths" in cells:
                        cells["track_lengths"] = " ".join(f"{n}:{c}" for n, c in cells["track_lengths"].items())
                    writer.writerow(cells)

    write_atomically(path, write_csv)
