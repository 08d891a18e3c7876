"""COLMAP database.db, read with the standard library's sqlite3 (read-only), any schema since COLMAP 3.6.

Used tables: images, cameras, keypoints, matches, two_view_geometries (rigs and frames, added in COLMAP 3.12, are not
needed to browse matches). A pair is stored once under pair_id = id0 * 2147483647 + id1 with id0 < id1, its
matches as (N, 2) uint32 keypoint indices into (image id0, image id1). Keypoints are (rows, 2|4|6) float32 whose
first two columns are x, y with the origin at the corner of the first pixel: we subtract 0.5 to reach our
convention (pixel centres at integers), as the writer in colmap_export adds it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np

from .colmap_export import MAX_IMAGE_ID
from .intrinsics import from_colmap_camera
from .matching_run import UNKNOWN, MatchingRun, PairRows, RunImage, RunOpenError, StoredPair
from .types import MatchResult, RunInfo

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
        cameras = {}
        for camera_id, model, width, height, params, prior in self._db.execute(
            "SELECT camera_id, model, width, height, params, prior_focal_length FROM cameras"
        ):
            try:
                intrinsics = from_colmap_camera(camera_id, model, np.frombuffer(params or b"", np.float64))
            except ValueError:
                intrinsics = None  # a camera without a pinhole part: the pose needs intrinsics typed in
            if intrinsics is not None and not prior:  # COLMAP's flag: the focal length is a default guess
                note = "; ".join(n for n in (intrinsics.note, "focal length guessed, not known") if n)
                intrinsics = replace(intrinsics, note=note)
            cameras[camera_id] = ((int(height), int(width)), intrinsics)
        images: list[RunImage] = []
        self._index_of_id: dict[int, int] = {}
        for image_id, name, camera_id in self._db.execute("SELECT image_id, name, camera_id FROM images ORDER BY name"):
            size, intrinsics = cameras.get(camera_id, (None, None))
            self._index_of_id[int(image_id)] = len(images)
            images.append(RunImage(str(name), size, intrinsics))
        self.images = tuple(images)
        self._image_ids = np.array(sorted(self._index_of_id, key=self._index_of_id.__getitem__), np.int64)

        matched = np.array(list(self._db.execute("SELECT pair_id, rows FROM matches")), np.int64).reshape(-1, 2)
        verified = np.zeros((0, 3), np.int64)
        if self._has_geometries:
            verified = np.array(
                list(self._db.execute("SELECT pair_id, rows, config FROM two_view_geometries")), np.int64
            ).reshape(-1, 3)
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

    def _blob(self, query: str, key: int) -> tuple | None:
        return self._db.execute(query, (key,)).fetchone()

    def _keypoints(self, image_id: int) -> np.ndarray:
        row = self._blob("SELECT rows, cols, data FROM keypoints WHERE image_id = ?", image_id)
        if row is None or not row[2]:
            return np.zeros((0, 2), np.float32)
        rows, cols, data = row
        return np.frombuffer(data, np.float32).reshape(rows, cols)[:, :2] - np.float32(0.5)

    def _read_pair(self, index: int) -> StoredPair:
        pair_id = int(self._pair_ids[index])
        id0, id1 = pair_id // MAX_IMAGE_ID, pair_id % MAX_IMAGE_ID
        try:
            return self._read(index, pair_id, id0, id1)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise RunOpenError(f"{self.source.name}: cannot read pair {index} ({exc})") from exc

    def _read(self, index: int, pair_id: int, id0: int, id1: int) -> StoredPair:
        keypoints0, keypoints1 = self._keypoints(id0), self._keypoints(id1)
        row = self._blob("SELECT rows, data FROM matches WHERE pair_id = ?", pair_id)
        matches = _index_pairs(row)
        geometry, verified, matrices, pose = "", None, {}, None
        if self._has_geometries:
            tvg = self._blob(
                "SELECT rows, data, config, F, E, H, qvec, tvec FROM two_view_geometries WHERE pair_id = ?", pair_id
            )
            if tvg is not None:
                verified = _index_pairs(tvg[:2])
                geometry = GEOMETRY_TYPES.get(int(tvg[2]), f"type {tvg[2]}")
                for name, blob in zip("FEH", tvg[3:6]):
                    if blob and len(blob) == 72:
                        matrix = np.frombuffer(blob, np.float64).reshape(3, 3)
                        if np.any(matrix != 0):
                            matrices[name] = matrix
                if tvg[6] and tvg[7] and len(tvg[6]) == 32 and len(tvg[7]) == 24:
                    qvec = np.frombuffer(tvg[6], np.float64)
                    if np.linalg.norm(qvec) > 0:
                        pose = (quaternion_to_rotation(qvec), np.frombuffer(tvg[7], np.float64).copy())
        inliers = None
        notes = ["COLMAP stores no match scores: every score is 1"]
        if verified is not None:
            code = matches[:, 0] * (len(keypoints1) + 1) + matches[:, 1]
            verified_code = verified[:, 0] * (len(keypoints1) + 1) + verified[:, 1]
            extra = verified[~np.isin(verified_code, code)]
            if len(extra):  # verified matches missing from the raw ones (e.g. raw matches deleted): keep them
                notes.append(f"{len(extra)} verified matches are not among the raw matches")
                matches = np.concatenate([matches, extra])
                code = matches[:, 0] * (len(keypoints1) + 1) + matches[:, 1]
            inliers = np.isin(code, verified_code)
        if len(matches) and (matches[:, 0].max() >= len(keypoints0) or matches[:, 1].max() >= len(keypoints1)):
            raise ValueError("a match points past the keypoints stored for its image")
        i0, i1 = self._index_of_id[id0], self._index_of_id[id1]
        kpts0 = np.ascontiguousarray(keypoints0[matches[:, 0]], np.float32)
        kpts1 = np.ascontiguousarray(keypoints1[matches[:, 1]], np.float32)
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

    def close(self) -> None:
        self._db.close()


def _index_pairs(row: tuple | None) -> np.ndarray:
    """A (rows, data) blob of uint32 index pairs as an (N, 2) int64 array."""
    if row is None or not row[0] or not row[1]:
        return np.zeros((0, 2), np.int64)
    return np.frombuffer(row[1], np.uint32).reshape(int(row[0]), 2).astype(np.int64)
