"""Reference camera poses from a COLMAP sparse model, read with the optional pycolmap (`pip install ".[colmap]"`).

A pair's reference is cam1_from_cam0 of the two registered images, compared with an estimated relative pose by
core.analysis.relative_pose.pose_error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.analysis.intrinsics import Intrinsics, from_colmap_camera
from core.analysis.relative_pose import relative_from_absolute
from core.runs.base import RunOpenError

MODEL_FILES = ("images.bin", "images.txt")


@dataclass(frozen=True, eq=False)
class ReferencePoses:
    """cam_from_world (R, t) of every registered image of a model, and its camera's pinhole intrinsics, by image
    name (cameras without a pinhole part have no intrinsics)."""

    source: Path
    poses: dict[str, tuple[np.ndarray, np.ndarray]]
    intrinsics: dict[str, Intrinsics] = field(default_factory=dict)

    def relative(self, name0: str, name1: str) -> tuple[np.ndarray, np.ndarray] | None:
        """cam1_from_cam0, or None when either image is not registered in the model."""
        if name0 not in self.poses or name1 not in self.poses:
            return None
        return relative_from_absolute(*self.poses[name0], *self.poses[name1])


def find_model_beside(database: Path) -> Path | None:
    """A sparse model next to a database, where COLMAP puts it: sparse/0, sparse, or the database's own folder."""
    folder = database.parent if database.is_file() else database
    for candidate in (folder / "sparse" / "0", folder / "sparse", folder):
        if any((candidate / name).is_file() for name in MODEL_FILES):
            return candidate
    return None


def read_reconstruction(model: str | Path) -> Any:
    """pycolmap's Reconstruction of a sparse model folder. Raises RunOpenError when pycolmap is missing or the
    folder holds no readable model."""
    model = Path(model)
    try:
        import pycolmap
    except ImportError as exc:
        raise RunOpenError('reading a COLMAP model needs pycolmap: pip install "match-inspector[colmap]"') from exc
    if not any((model / name).is_file() for name in MODEL_FILES):
        raise RunOpenError(f"{model} holds no COLMAP model (images.bin or images.txt)")
    try:
        return pycolmap.Reconstruction(str(model))
    except Exception as exc:  # pycolmap raises its own error types for unreadable models
        raise RunOpenError(f"cannot read the COLMAP model in {model} ({exc})") from exc


def load_reference_poses(model: str | Path) -> ReferencePoses:
    """Raises RunOpenError when pycolmap is missing or the folder holds no readable model."""
    reconstruction = read_reconstruction(model)
    poses, intrinsics = {}, {}
    for image in reconstruction.images.values():
        if image.has_pose:
            pose = image.cam_from_world()
            poses[image.name] = (np.asarray(pose.rotation.matrix(), np.float64), np.asarray(pose.translation, float))
            camera = reconstruction.cameras[image.camera_id]
            try:
                intrinsics[image.name] = from_colmap_camera(
                    image.camera_id, int(camera.model.value), np.asarray(camera.params, np.float64)
                )
            except ValueError:
                pass  # a camera model without a pinhole focal length: no pose from this image's matches
    return ReferencePoses(Path(model), poses, intrinsics)
