"""A small matching run with known geometry, written by pycolmap's own API (not our writer), and its COLMAP model.

Cameras on an arc look at a cloud of 3D points; every image's keypoints are the projections of all points (in
COLMAP's convention, origin at the pixel corner), so a match (k, k) is exact. One pair is "unrelated": a few random
matches clustered in a corner, as a retrieval mistake would give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = (480, 640)  # height, width
FOCAL = 600.0
UNRELATED = (0, 3)  # images of the pair whose matches are junk


def _rotation_y(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def camera_poses(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """cam_from_world (R, t) of cameras spaced along x, turning slightly towards the scene centre."""
    poses = []
    for i in range(count):
        rotation = _rotation_y(-4.0 * i)
        centre = np.array([0.6 * i, 0.05 * i, 0.0])
        poses.append((rotation, -rotation @ centre))
    return poses


def write_scene_run(folder: Path, count: int = 4, points: int = 300, seed: int = 0) -> Path:
    """database.db (every pair matched, none verified) and sparse/0 with the true poses; returns the database."""
    import pycolmap

    rng = np.random.default_rng(seed)
    h, w = SIZE
    world = np.column_stack([rng.uniform(-3, 5, points), rng.uniform(-2, 2, points), rng.uniform(6, 14, points)])
    poses = camera_poses(count)
    database = folder / "database.db"
    db = pycolmap.Database.open(str(database))
    reconstruction = pycolmap.Reconstruction()
    ids = []
    for i, (rotation, translation) in enumerate(poses):
        camera = pycolmap.Camera.create_from_model_name(i + 1, "SIMPLE_PINHOLE", FOCAL, w, h)
        camera.has_prior_focal_length = True  # a calibrated camera: the focal length is known, not guessed
        camera_id = db.write_camera(camera, use_camera_id=True)
        ids.append(db.write_image(pycolmap.Image(name=f"view{i}.png", camera_id=camera_id)))
        local = world @ rotation.T + translation
        pixels = local[:, :2] / local[:, 2:] * FOCAL + np.array([w / 2, h / 2])  # COLMAP convention
        db.write_keypoints(ids[-1], pixels.astype(np.float32))
        reconstruction.add_camera_with_trivial_rig(camera)
        reconstruction.add_image_with_trivial_frame(
            pycolmap.Image(name=f"view{i}.png", camera_id=camera_id, image_id=ids[-1]),
            pycolmap.Rigid3d(pycolmap.Rotation3d(rotation), translation),
        )
    for a in range(count):
        for b in range(a + 1, count):
            if (a, b) == UNRELATED:
                matches = np.column_stack([rng.integers(0, points, 20), rng.integers(0, points, 20)])
            else:
                matches = np.column_stack([np.arange(points), np.arange(points)])
            db.write_matches(ids[a], ids[b], matches.astype(np.uint32))
    db.close()
    model = folder / "sparse" / "0"
    model.mkdir(parents=True)
    reconstruction.write(str(model))
    return database


def write_grey_images(database: Path, images: Path) -> Path:
    """The scene run stores no pictures: grey ones of each image's stored size, in `images`, for a window to show."""
    from PIL import Image

    from core.runs.open import open_run

    images.mkdir(exist_ok=True)
    with open_run(database) as run:
        for image in run.images:
            assert image.size is not None
            height, width = image.size
            Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(images / image.name)
    return images
