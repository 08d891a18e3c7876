"""COLMAP database.db, read with the standard library's sqlite3 (read-only), any schema since COLMAP 3.6.

Used tables: images, cameras, keypoints, matches, two_view_geometries (rigs and frames, added in COLMAP 3.12, are not
needed to browse matches). A pair is stored once under pair_id = id0 * 2147483647 + id1 with id0 < id1, its
matches as (N, 2) uint32 keypoint indices into (image id0, image id1). Keypoints are (rows, 2|4|6) float32 whose
first two columns are x, y with the origin at the corner of the first pixel: we subtract 0.5 to reach our
convention (pixel centres at integers), as the writer in colmap_export adds it.

Every blob is checked against its rows and cols and every index against the keypoints (core.formats.stored_arrays): a
damaged database gives one RunOpenError, never a wrong picture. Stored F, E, H and pose blobs of the wrong size are
left out with a note (nothing here uses them to read the matches).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.intrinsics import COLMAP_MODELS, Intrinsics, from_colmap_camera
from core.errors import MatchCancelled
from core.formats.colmap import MAX_IMAGE_ID
from core.formats.stored_arrays import indices, points, size_hw, take
from core.runs.base import (
    UNKNOWN,
    KeypointMatches,
    MatchingRun,
    PairRows,
    Progress,
    RunImage,
    RunOpenError,
    StoredPair,
)
from core.types import MatchResult, RunInfo

# two_view_geometries.config, COLMAP's TwoViewGeometry::ConfigurationType
GEOMETRY_TYPES = {
    0: "undefined",
    1: "degenerate",
    2: "calibrated",
    3: "uncalibrated",
    4: "planar",
    5: "panoramic",
    6: "planar or panoramic",
    7: "watermark",
    8: "multiple",
    9: "calibrated rig",
}
REQUIRED_TABLES = ("images", "cameras", "keypoints", "matches")


def split_pair_id(pair_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pair_id -> (image_id0, image_id1), id0 < id1."""
    pair_ids = np.asarray(pair_ids, np.int64)
    return pair_ids // MAX_IMAGE_ID, pair_ids % MAX_IMAGE_ID


def quaternion_to_rotation(qvec: np.ndarray) -> np.ndarray:
    """COLMAP's quaternion (w, x, y, z) as a rotation matrix."""
    w, x, y, z = np.asarray(qvec, np.float64) / np.linalg.norm(qvec)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


class ColmapDatabaseRun(MatchingRun):
    kind = "COLMAP database"

    def __init__(self, path: Path, image_dir: Path | None) -> None:
        super().__init__(path, image_dir)
        try:
            # Read-only URI: opening never creates or changes the user's database.
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise RunOpenError(f"{path.name}: not a COLMAP database ({exc})") from exc
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            self._db.close()
            raise RunOpenError(f"{path.name}: not a COLMAP database (no {', '.join(missing)} table)")
        self._has_geometries = "two_view_geometries" in tables
        try:
            self._load_index()
        except (sqlite3.DatabaseError, ValueError) as exc:
            self._db.close()
            raise RunOpenError(f"{path.name}: cannot read the database ({exc})") from exc

    def _load_index(self) -> None:
        cameras: dict[int, tuple[tuple[int, int] | None, Intrinsics | None]] = {}
        for camera_id, model, width, height, params, prior in self._db.execute(
            "SELECT camera_id, model, width, height, params, prior_focal_length FROM cameras"
        ):
            camera_size = size_hw(height, width, f"the size of camera {camera_id}")
            intrinsics = None  # a model without a pinhole part: the pose needs intrinsics typed in
            if model in COLMAP_MODELS:
                params = b"" if params is None else params
                if not isinstance(params, bytes) or len(params) % 8:
                    raise ValueError(f"the parameters of camera {camera_id} are not a blob of float64 values")
                intrinsics = from_colmap_camera(camera_id, model, np.frombuffer(params, np.float64))
            if intrinsics is not None and not prior:  # COLMAP's flag: the focal length is a default guess
                note = "; ".join(n for n in (intrinsics.note, "focal length guessed, not known") if n)
                intrinsics = replace(intrinsics, note=note)
            cameras[camera_id] = (camera_size, intrinsics)
        images: list[RunImage] = []
        self._index_of_id: dict[int, int] = {}
        for image_id, name, camera_id in self._db.execute("SELECT image_id, name, camera_id FROM images ORDER BY name"):
            # pair_id = id0 * MAX_IMAGE_ID + id1 cannot name an image outside COLMAP's range (negative included)
            if not isinstance(image_id, int) or not 0 <= image_id < MAX_IMAGE_ID:
                raise ValueError(f"image {name} has the id {image_id!r}, outside the range of COLMAP image ids")
            size, intrinsics = cameras.get(camera_id, (None, None))
            self._index_of_id[image_id] = len(images)
            images.append(RunImage(str(name), size, intrinsics))
        self.images = tuple(images)
        self._image_ids = np.array(sorted(self._index_of_id, key=self._index_of_id.__getitem__), np.int64)

        matched = _counts(self._db.execute("SELECT pair_id, rows FROM matches"), 2, "the matches table")
        verified = np.zeros((0, 3), np.int64)
        if self._has_geometries:
            verified = _counts(
                self._db.execute("SELECT pair_id, rows, config FROM two_view_geometries"),
                3,
                "the two_view_geometries table",
            )
        pair_ids = np.union1d(matched[:, 0], verified[:, 0])
        matches = np.zeros(len(pair_ids), np.int64)
        matches[np.searchsorted(pair_ids, matched[:, 0])] = matched[:, 1]
        inliers = np.full(len(pair_ids), UNKNOWN, np.int64)
        geometry = np.full(len(pair_ids), "", dtype=object)
        rows = np.searchsorted(pair_ids, verified[:, 0])
        inliers[rows] = verified[:, 1]
        lookup = np.array([GEOMETRY_TYPES.get(c, f"type {c}") for c in range(max(GEOMETRY_TYPES) + 1)], dtype=object)
        configs = verified[:, 2]
        known = (configs >= 0) & (configs < len(lookup))
        geometry[rows[known]] = lookup[configs[known]]
        geometry[rows[~known]] = [f"type {c}" for c in configs[~known]]
        id0, id1 = split_pair_id(pair_ids)
        present = np.isin(id0, self._image_ids) & np.isin(id1, self._image_ids)  # skip rows of deleted images
        self._pair_ids = pair_ids[present]
        to_index = np.full(int(self._image_ids.max(initial=0)) + 1, -1, np.int64)
        to_index[self._image_ids] = np.arange(len(self._image_ids))
        self.pairs = PairRows(
            to_index[id0[present]],
            to_index[id1[present]],
            matches[present],
            inliers[present],
            geometry[present].astype(str),
        )

    def _row(self, query: str, key: int) -> tuple | None:
        return self._db.execute(query, (key,)).fetchone()

    def _keypoints(self, image_id: int) -> np.ndarray:
        row = self._row("SELECT rows, cols, data FROM keypoints WHERE image_id = ?", image_id)
        if row is None:  # an image without keypoints: any match of it is refused below
            return np.zeros((0, 2), np.float32)
        what = f"the keypoints blob of {self.images[self._index_of_id[image_id]].name}"
        keypoints = _blob(row, np.float32, what)
        return points(keypoints[:, :2], what) - np.float32(0.5)  # x, y come first (then the affine shape)

    def _read_pair(self, index: int) -> StoredPair:
        pair_id = int(self._pair_ids[index])
        id0, id1 = pair_id // MAX_IMAGE_ID, pair_id % MAX_IMAGE_ID
        try:
            return self._read(index, pair_id, id0, id1)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise self.damaged(index, exc) from exc

    def _read(self, index: int, pair_id: int, id0: int, id1: int) -> StoredPair:
        keypoints0, keypoints1 = self._keypoints(id0), self._keypoints(id1)
        row = self._row("SELECT rows, cols, data FROM matches WHERE pair_id = ?", pair_id)
        matches = _index_pairs(row, "the matches blob")
        geometry, verified, matrices, pose = "", None, {}, None
        notes = ["COLMAP stores no match scores: every score is 1"]
        if self._has_geometries:
            tvg = self._row(
                "SELECT rows, cols, data, config, F, E, H, qvec, tvec FROM two_view_geometries WHERE pair_id = ?",
                pair_id,
            )
            if tvg is not None:
                verified = _index_pairs(tvg[:3], "the verified matches blob")
                geometry = GEOMETRY_TYPES.get(int(tvg[3]), f"type {tvg[3]}")
                for name, blob in zip("FEH", tvg[4:7]):
                    matrix = _optional_blob(blob, 9, f"the stored {name}", notes)
                    if matrix is not None and np.any(matrix != 0):  # COLMAP writes zeros for "not estimated"
                        matrices[name] = matrix.reshape(3, 3)
                qvec = _optional_blob(tvg[7], 4, "the stored rotation (qvec)", notes)
                tvec = _optional_blob(tvg[8], 3, "the stored translation (tvec)", notes)
                if qvec is not None and tvec is not None and np.linalg.norm(qvec) > 0:
                    pose = (quaternion_to_rotation(qvec), tvec.copy())
        inliers = None
        if verified is not None:
            code = matches[:, 0] * (len(keypoints1) + 1) + matches[:, 1]
            verified_code = verified[:, 0] * (len(keypoints1) + 1) + verified[:, 1]
            extra = verified[~np.isin(verified_code, code)]
            if len(extra):  # verified matches missing from the raw ones (e.g. raw matches deleted): keep them
                notes.append(f"{len(extra)} verified matches are not among the raw matches")
                matches = np.concatenate([matches, extra])
                code = matches[:, 0] * (len(keypoints1) + 1) + matches[:, 1]
            inliers = np.isin(code, verified_code)
        i0, i1 = self._index_of_id[id0], self._index_of_id[id1]
        kpts0 = np.ascontiguousarray(take(keypoints0, matches[:, 0], self.images[i0].name), np.float32)
        kpts1 = np.ascontiguousarray(take(keypoints1, matches[:, 1], self.images[i1].name), np.float32)
        size0, note0 = self.image_size(i0, keypoints0)
        size1, note1 = self.image_size(i1, keypoints1)
        notes += [n for n in (note0, note1) if n]
        info = RunInfo(self.kind, str(self.source), "–", "–", ((0, 0), (0, 0)), 0.0, notes=tuple(notes))
        result = MatchResult(kpts0, kpts1, np.ones(len(matches), np.float32), (size0, size1), info)
        image0, image1 = self.images[i0], self.images[i1]
        return self.stored_pair(
            index,
            (image0.name, image1.name),
            result,
            inliers,
            geometry,
            intrinsics=(image0.intrinsics, image1.intrinsics),
            stored_pose=pose,
            matrices=matrices,
        )

    def keypoint_matches(
        self, progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False
    ) -> KeypointMatches:
        """One query per table: the verified matches (two_view_geometries) when the database holds any, as COLMAP's
        correspondence graph uses, else the raw ones."""
        try:
            with self._lock:
                return self._keypoint_matches(progress, cancelled)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise RunOpenError(f"{self.source.name}: cannot read the matches ({exc})") from exc

    def _keypoint_matches(self, progress: Progress, cancelled: Callable[[], bool]) -> KeypointMatches:
        keypoints = [np.zeros((0, 2), np.float32)] * len(self.images)
        for image_id, rows, cols, data in self._db.execute("SELECT image_id, rows, cols, data FROM keypoints"):
            index = self._index_of_id.get(image_id)
            if index is not None:
                what = f"the keypoints blob of {self.images[index].name}"
                keypoints[index] = points(_blob((rows, cols, data), np.float32, what)[:, :2], what) - np.float32(0.5)
        verified = self._has_geometries and bool(np.any(self.pairs.inliers > 0))
        table = "two_view_geometries" if verified else "matches"
        total = len(self.pairs)
        rows_of = {int(pair_id): row for row, pair_id in enumerate(self._pair_ids)}
        pair_rows, first, second = [], [], []
        for done, (pair_id, rows, cols, data) in enumerate(
            self._db.execute(f"SELECT pair_id, rows, cols, data FROM {table}")  # noqa: S608 - a fixed table name
        ):
            if done % 256 == 0:
                if cancelled():
                    raise MatchCancelled()
                progress(done, total)
            row = rows_of.get(pair_id)
            if row is None or not rows:  # a pair of a deleted image, or one without matches
                continue
            what = f"the {'verified ' if verified else ''}matches blob of pair {pair_id}"
            matches = _blob((rows, cols, data), np.uint32, what)
            if cols != 2:
                raise ValueError(f"{what} has {cols} columns, not 2 keypoint indices")
            for column, image in ((0, self.pairs.image0[row]), (1, self.pairs.image1[row])):
                top = int(matches[:, column].max())
                if top >= len(keypoints[image]):
                    name = self.images[image].name
                    raise ValueError(f"a match points to keypoint {top} of {name}, which has {len(keypoints[image])}")
            pair_rows.append(np.full(len(matches), row, np.int32))
            first.append(matches[:, 0])
            second.append(matches[:, 1])
        progress(total, total)
        count = sum(len(rows) for rows in pair_rows)
        return KeypointMatches(
            tuple(keypoints),
            np.concatenate(pair_rows) if pair_rows else np.zeros(0, np.int32),
            np.concatenate(first).astype(np.int32) if first else np.zeros(0, np.int32),
            np.concatenate(second).astype(np.int32) if second else np.zeros(0, np.int32),
            np.ones(count, np.float32),  # COLMAP stores no match scores
            verified,
        )

    def close(self) -> None:
        self._db.close()


def _index_pairs(row: tuple | None, what: str) -> np.ndarray:
    """A (rows, cols, data) blob of uint32 keypoint index pairs as an (N, 2) int64 array."""
    if row is None:
        return np.zeros((0, 2), np.int64)
    pairs = _blob(row, np.uint32, what)
    return np.zeros((0, 2), np.int64) if pairs.size == 0 else indices(pairs, what, columns=2)


def _blob(row: tuple, dtype: type, what: str) -> np.ndarray:
    """A (rows, cols, data) row: a blob of rows x cols values, row-major, as COLMAP stores keypoints and matches."""
    rows, cols, data = row
    if not all(isinstance(n, int) and n >= 0 for n in (rows, cols)):
        raise ValueError(f"{what}: rows {rows!r} and cols {cols!r} are not counts")
    data = b"" if data is None else data
    if not isinstance(data, bytes):
        raise ValueError(f"{what} is stored as {type(data).__name__}, not as a blob")
    size = rows * cols * np.dtype(dtype).itemsize
    if len(data) != size:
        raise ValueError(f"{what} holds {len(data)} bytes, not the {rows} x {cols} {np.dtype(dtype).name} it claims")
    return np.frombuffer(data, dtype).reshape(rows, cols)


def _optional_blob(data: Any, count: int, what: str, notes: list[str]) -> np.ndarray | None:
    """`count` float64 values, or None when not stored; one of another size is left out, with a note."""
    if data is None or data == b"":
        return None
    if isinstance(data, bytes) and len(data) == count * 8:
        return np.frombuffer(data, np.float64)
    stored = f"{len(data)} bytes" if isinstance(data, bytes) else type(data).__name__
    notes.append(f"{what} is left out: {stored}, not {count} float64 values")
    return None


def _counts(rows: Any, columns: int, what: str) -> np.ndarray:
    """Whole-number columns of a table (pair ids, row counts, configurations) as an (N, columns) int64 array."""
    table = list(rows)
    for row in table:
        if not all(isinstance(value, int) for value in row):
            raise ValueError(f"{what} holds the row {row!r}, not whole numbers")
        if row[1] < 0:
            raise ValueError(f"{what} holds the row {row!r}: a negative number of matches")
    return np.array(table, np.int64).reshape(-1, columns)
