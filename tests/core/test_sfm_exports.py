"""hloc and COLMAP outputs read the way those tools read them: hloc's reader logic (tests/core/hloc_io.py) and
pycolmap, on a batch that includes an EXIF orientation-6 photo and a pair that fails."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from core.analysis.synthetic import homography_pair, textured_scene
from core.cli import run_cli
from core.formats.images import load_image, to_stored_frame
from tests.core import hloc_io
from tests.image_folders import write_plain_pairs

ORIENTATION_TAG = 0x0112


def _save_with_orientation(pixels: np.ndarray, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), **({"quality": 95} if path.suffix == ".jpg" else {}))


@pytest.fixture
def photos(tmp_path) -> Path:
    """a{i}.png / sub/b{i}.png: plain pairs; scene.png / portrait.jpg: the same scene, the second stored rotated with
    EXIF orientation 6 (shown rotated 90 degrees clockwise), as phones write portrait photos."""
    folder = write_plain_pairs(tmp_path / "images", 2, "sub")
    pair = homography_pair(240, 320, seed=7, strength=0.04)
    Image.fromarray(pair.image0).save(folder / "scene.png")
    _save_with_orientation(np.ascontiguousarray(np.rot90(pair.image1, k=1)), folder / "portrait.jpg", 6)
    return folder


PAIRS = ["a0.png sub/b0.png", "scene.png portrait.jpg", "missing.png a1.png", "a1.png sub/b1.png"]


def _batch(photos: Path, tmp_path: Path, fmt: str) -> tuple[int, Path]:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(PAIRS) + "\n")
    out = tmp_path / f"out-{fmt}"
    argv = ["batch", "--pairs", str(pairs), "--images", str(photos), "-o", str(out), "--matcher", "sift"]
    code = run_cli([*argv, "--format", fmt, "--no-progress"])
    return code, out


def _pairs(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in path.read_text().splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_points_map_back_to_the_stored_pixels(tmp_path, orientation):
    stored = textured_scene(48, 80, seed=orientation)
    path = tmp_path / f"o{orientation}.png"
    _save_with_orientation(stored, path, orientation)
    shown = load_image(path)
    assert shown.orientation == orientation
    np.testing.assert_array_equal(load_image(path, apply_exif=False).pixels, stored)
    h, w = shown.size
    rng = np.random.default_rng(orientation)
    points = np.stack([rng.integers(0, w, 200), rng.integers(0, h, 200)], 1).astype(np.float64)
    back = np.rint(to_stored_frame(points, orientation, shown.size)).astype(int)
    assert back[:, 0].min() >= 0 and back[:, 0].max() < stored.shape[1]
    assert back[:, 1].min() >= 0 and back[:, 1].max() < stored.shape[0]
    seen = shown.pixels[points[:, 1].astype(int), points[:, 0].astype(int)]
    np.testing.assert_array_equal(stored[back[:, 1], back[:, 0]], seen)


def test_failed_pairs_are_listed_and_left_out_of_the_pairs_file(photos, tmp_path, capsys):
    code, out = _batch(photos, tmp_path, "hloc")
    assert code == 2
    assert "3 matched, 0 already done, 1 failed, listed in" in capsys.readouterr().out
    assert _pairs(out / "failed_pairs.txt") == [("missing.png", "a1.png")]
    assert "missing.png: file not found" in (out / "failed_pairs.txt").read_text()
    written = _pairs(out / "pairs_matched.txt")
    assert written == [("a0.png", "sub/b0.png"), ("scene.png", "portrait.jpg"), ("a1.png", "sub/b1.png")]
    with pytest.raises(ValueError, match="Could not find pair"):  # what hloc says with the original pairs file
        hloc_io.get_matches(out / "matches.h5", "missing.png", "a1.png")


def test_hloc_files_resolve_every_written_pair_in_the_stored_frame(photos, tmp_path):
    import h5py

    code, out = _batch(photos, tmp_path, "hloc")
    assert code == 2  # one pair failed
    features, matches_path = out / "features.h5", out / "matches.h5"
    with h5py.File(features, "r") as handle:
        sizes = {name: tuple(handle[name]["image_size"][()]) for name in ("scene.png", "portrait.jpg")}
    # hloc reads images ignoring EXIF: portrait.jpg is 240 wide and 320 high as stored.
    with Image.open(photos / "portrait.jpg") as stored:
        assert sizes["portrait.jpg"] == stored.size == (240, 320)
    for name0, name1 in _pairs(out / "pairs_matched.txt"):
        matches, scores = hloc_io.get_matches(matches_path, name0, name1)
        kp0, kp1 = hloc_io.get_keypoints(features, name0), hloc_io.get_keypoints(features, name1)
        assert len(matches) > 20 and np.all(scores > 0)
        assert matches[:, 0].max() < len(kp0) and matches[:, 1].max() < len(kp1)
        unique, _ = hloc_io.get_unique_matches(matches, scores)
        assert len(unique) == len(matches), "one-to-one: hloc's get_unique_matches removes nothing"
        with h5py.File(features, "r") as handle:
            for name, points in ((name0, kp0), (name1, kp1)):
                width, height = handle[name]["image_size"][()]
                assert points.min() >= -0.5 and points[:, 0].max() <= width - 0.5 and points[:, 1].max() <= height - 0.5
        # The stored frames of a same-scene pair are related by a homography (the view's, composed with a rotation).
        _, inliers = cv2.findHomography(kp0[matches[:, 0]], kp1[matches[:, 1]], cv2.RANSAC, 3.0)
        assert inliers.mean() > 0.8, f"{name0} {name1}: {inliers.mean():.2f} inliers"


def test_colmap_database_matches_what_colmap_reads(photos, tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    code, out = _batch(photos, tmp_path, "colmap")
    assert code == 2
    database = out / "database.db"
    db = pycolmap.Database.open(str(database))
    try:
        ids = {image.name: image.image_id for image in db.read_all_images()}
        assert set(ids) == {"a0.png", "sub/b0.png", "scene.png", "portrait.jpg", "a1.png", "sub/b1.png"}
        for name, image_id in ids.items():
            bitmap = pycolmap.Bitmap.read(str(photos / name), False)
            camera = db.read_camera(db.read_image(image_id).camera_id)
            assert (camera.width, camera.height) == (bitmap.width, bitmap.height), name
            keypoints = db.read_keypoints(image_id)[:, :2]
            assert keypoints.min() >= 0 and keypoints[:, 0].max() <= bitmap.width, name
            assert keypoints[:, 1].max() <= bitmap.height, name
        for name0, name1 in _pairs(out / "pairs_matched.txt"):
            matches = db.read_matches(ids[name0], ids[name1])
            assert len(matches) > 20
            for column in (0, 1):
                assert len(np.unique(matches[:, column])) == len(matches), "one-to-one"
    finally:
        db.close()
    pycolmap.verify_matches(str(database), str(out / "pairs_matched.txt"))
    db = pycolmap.Database.open(str(database))
    try:
        geometry = db.read_two_view_geometry(ids["scene.png"], ids["portrait.jpg"])
        matched = len(db.read_matches(ids["scene.png"], ids["portrait.jpg"]))
        assert len(geometry.inlier_matches) > 0.8 * matched
    finally:
        db.close()
