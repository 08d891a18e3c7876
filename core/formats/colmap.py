"""Keypoints and matches into a COLMAP database (SQLite, COLMAP's published schema).

One SIMPLE_RADIAL camera per image with a default focal length (1.2 x the long side), as COLMAP's feature import
does without EXIF, sized like the stored pixels COLMAP reads (it ignores EXIF orientation). Keypoints come in that
stored frame, merged per image (semi-dense ones; a detector's are kept as detected) and made one-to-one exactly as
for hloc (`hloc.merge_keypoints`). COLMAP puts
the origin at the top-left image corner, so keypoints get +0.5 px. Two-view geometries are left for COLMAP's own
verification (`colmap matches_importer` / `pycolmap.verify_matches`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.formats.files import write_atomically
from core.formats.hloc import PairMatches, merge_keypoints

MAX_IMAGE_ID = 2147483647
SIMPLE_RADIAL = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (camera_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, model INTEGER NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, params BLOB, prior_focal_length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (image_id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name TEXT NOT NULL UNIQUE,
    camera_id INTEGER NOT NULL, CONSTRAINT image_id_check CHECK(image_id >= 0 and image_id < 2147483647),
    FOREIGN KEY(camera_id) REFERENCES cameras(camera_id));
CREATE TABLE IF NOT EXISTS keypoints (image_id INTEGER PRIMARY KEY NOT NULL, rows INTEGER NOT NULL,
    cols INTEGER NOT NULL, data BLOB, FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS descriptors (image_id INTEGER PRIMARY KEY NOT NULL, rows INTEGER NOT NULL,
    cols INTEGER NOT NULL, data BLOB, FOREIGN KEY(image_id) REFERENCES images(image_id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS matches (pair_id INTEGER PRIMARY KEY NOT NULL, rows INTEGER NOT NULL,
    cols INTEGER NOT NULL, data BLOB);
CREATE TABLE IF NOT EXISTS two_view_geometries (pair_id INTEGER PRIMARY KEY NOT NULL, rows INTEGER NOT NULL,
    cols INTEGER NOT NULL, data BLOB, config INTEGER NOT NULL, F BLOB, E BLOB, H BLOB, qvec BLOB, tvec BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS index_name ON images(name);
"""


def pair_id(image_id0: int, image_id1: int) -> int:
    a, b = sorted((image_id0, image_id1))
    return a * MAX_IMAGE_ID + b


def write_colmap(
    pairs: Sequence[PairMatches],
    database_path: str | Path,
    image_sizes: dict[str, tuple[int, int]],
    detector_based: bool = False,
) -> None:
    """image_sizes: name -> (height, width) of the stored pixels; detector_based: a detector's keypoints, kept as
    detected (hloc.merge_keypoints). Raises OSError."""
    keypoints_of, merged = merge_keypoints(pairs, detector_based)

    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        connection = sqlite3.connect(tmp)
        try:
            connection.executescript(SCHEMA)
            image_ids = {}
            for image_id, (name, points) in enumerate(keypoints_of.items(), start=1):
                h, w = image_sizes[name]
                focal = 1.2 * max(h, w)
                params = np.array([focal, w / 2, h / 2, 0.0], np.float64)
                connection.execute(
                    "INSERT INTO cameras VALUES (?, ?, ?, ?, ?, ?)",
                    (image_id, SIMPLE_RADIAL, w, h, params.tobytes(), 0),
                )
                connection.execute(
                    "INSERT INTO images (image_id, name, camera_id) VALUES (?, ?, ?)", (image_id, name, image_id)
                )
                keypoints = points + np.float32(0.5)
                connection.execute(
                    "INSERT INTO keypoints VALUES (?, ?, ?, ?)", (image_id, len(keypoints), 2, keypoints.tobytes())
                )
                image_ids[name] = image_id
            for item in merged:
                id0, id1 = image_ids[item.pair.name0], image_ids[item.pair.name1]
                matches = item.matches
                if id0 == id1:
                    continue
                if id0 > id1:
                    matches = matches[:, ::-1]
                data = np.ascontiguousarray(matches, dtype=np.uint32)
                connection.execute(
                    "INSERT OR REPLACE INTO matches VALUES (?, ?, ?, ?)",
                    (pair_id(id0, id1), len(data), 2, data.tobytes()),
                )
            connection.commit()
        finally:
            connection.close()

    write_atomically(database_path, write)
