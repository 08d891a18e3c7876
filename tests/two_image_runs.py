"""Matching runs of two images, a.jpg and b.jpg, in every format the readers open, for tests on damaged files.

The COLMAP database and hloc files are written straight with sqlite3 / h5py (our writers merge keypoints, which would
repair or refuse what the tests damage); batch files by our writer, or by numpy itself when damaged.
Each image has KEYPOINTS keypoints; the pair matches keypoint k of a.jpg with keypoint k of b.jpg for k in MATCHED.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import h5py
import numpy as np

from core.formats.colmap import SCHEMA, pair_id
from core.formats.match_files import MatchFile, write_matches

SIZE = (60, 80)  # (height, width) of both images
KEYPOINTS = 6
MATCHED = np.arange(5)
NAMES = ("a.jpg", "b.jpg")


def keypoints(seed: int) -> np.ndarray:
    """(KEYPOINTS, 2) float32 inside SIZE, in our convention (pixel centres at integers)."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    return np.column_stack([rng.uniform(0, w - 1, KEYPOINTS), rng.uniform(0, h - 1, KEYPOINTS)]).astype(np.float32)


def write_database(path: Path, points: tuple[np.ndarray, np.ndarray], verified: np.ndarray | None = None) -> Path:
    """COLMAP's schema, one SIMPLE_RADIAL camera per image, the pair's matches and, if given, its verified ones."""
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    h, w = SIZE
    for image_id, (name, stored) in enumerate(zip(NAMES, points), start=1):
        params = np.array([100.0, w / 2, h / 2, 0.0]).tobytes()
        connection.execute("INSERT INTO cameras VALUES (?, 2, ?, ?, ?, 1)", (image_id, w, h, params))
        connection.execute("INSERT INTO images VALUES (?, ?, ?)", (image_id, name, image_id))
        colmap = (stored + np.float32(0.5)).astype(np.float32)  # COLMAP's origin is the corner of the first pixel
        connection.execute("INSERT INTO keypoints VALUES (?, ?, 2, ?)", (image_id, len(colmap), colmap.tobytes()))
    matches = np.column_stack([MATCHED, MATCHED]).astype(np.uint32)
    connection.execute("INSERT INTO matches VALUES (?, ?, 2, ?)", (pair_id(1, 2), len(matches), matches.tobytes()))
    if verified is not None:
        inliers = matches[verified].astype(np.uint32)
        identity = np.eye(3).tobytes()
        connection.execute(
            "INSERT INTO two_view_geometries VALUES (?, ?, 2, ?, 2, ?, ?, ?, ?, ?)",
            (
                pair_id(1, 2),
                len(inliers),
                inliers.tobytes(),
                identity,
                identity,
                identity,
                np.array([1.0, 0, 0, 0]).tobytes(),
                np.array([1.0, 0, 0]).tobytes(),
            ),
        )
    connection.commit()
    connection.close()
    return path


def write_hloc(folder: Path, points: tuple[np.ndarray, np.ndarray], scores: np.ndarray | None = None) -> Path:
    """features.h5 (keypoints, image_size) and matches.h5 in hloc's layout; returns matches.h5."""
    h, w = SIZE
    with h5py.File(folder / "features.h5", "w") as features:
        for name, stored in zip(NAMES, points):
            features.create_dataset(f"{name}/keypoints", data=stored)
            features.create_dataset(f"{name}/image_size", data=np.array([w, h]))
    matches0 = np.full(KEYPOINTS, -1, np.int32)
    matches0[MATCHED] = MATCHED
    scores0 = np.zeros(KEYPOINTS, np.float32)
    scores0[MATCHED] = np.linspace(0.9, 0.5, len(MATCHED)) if scores is None else scores
    with h5py.File(folder / "matches.h5", "w") as matches:
        matches.create_dataset("a.jpg/b.jpg/matches0", data=matches0)
        matches.create_dataset("a.jpg/b.jpg/matching_scores0", data=scores0)
    return folder / "matches.h5"


def replace_dataset(path: Path, name: str, data: object) -> None:
    """Put `data` where dataset `name` was (None: leave it missing)."""
    with h5py.File(path, "a") as handle:
        del handle[name]
        if data is not None:
            handle.create_dataset(name, data=data)


PROVENANCE = {"image0": NAMES[0], "image1": NAMES[1], "image0_size_hw": list(SIZE), "image1_size_hw": list(SIZE)}


def write_batch(
    folder: Path,
    points: tuple[np.ndarray, np.ndarray],
    suffix: str = ".npz",
    scores: np.ndarray | None = None,
    inliers: np.ndarray | None = None,
) -> Path:
    """A batch output folder holding the pair's file, pairs/a.jpg__b.jpg.SUFFIX, written by our writer."""
    (folder / "pairs").mkdir(parents=True, exist_ok=True)
    scores = np.linspace(0.9, 0.5, len(MATCHED)).astype(np.float32) if scores is None else scores
    residuals = None if inliers is None else np.zeros(len(MATCHED), np.float32)
    match_file = MatchFile(points[0][MATCHED], points[1][MATCHED], scores, dict(PROVENANCE), inliers, residuals)
    write_matches(folder / "pairs" / f"a.jpg__b.jpg{suffix}", match_file)
    return folder


def write_npz(folder: Path, points: tuple[np.ndarray, np.ndarray], **replaced: object) -> Path:
    """The pair's file as an NPZ written by numpy itself, `replaced` arrays (or provenance) instead of ours."""
    (folder / "pairs").mkdir(parents=True, exist_ok=True)
    provenance = {**PROVENANCE, **replaced.pop("provenance", {})}  # type: ignore[dict-item]
    arrays: dict[str, object] = {
        "kpts0": points[0][MATCHED],
        "kpts1": points[1][MATCHED],
        "scores": np.linspace(0.9, 0.5, len(MATCHED)).astype(np.float32),
        "provenance": np.array(json.dumps(provenance)),
        **replaced,
    }
    np.savez(folder / "pairs" / "a.jpg__b.jpg.npz", **arrays)  # type: ignore[arg-type]
    return folder
