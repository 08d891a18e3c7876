"""Matching runs written by other tools open through core.runs.open.open_run with the right pairs and keypoints.

The COLMAP database is written by pycolmap's own API (COLMAP's schema with rig and frame tables), the hloc files with
h5py in hloc's layout; neither goes through our writers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from core.runs.base import UNKNOWN, RunOpenError, count_pairs
from core.runs.open import open_run

pycolmap = pytest.importorskip("pycolmap")

SIZES = {"a.jpg": (480, 640), "b.jpg": (480, 640), "c.jpg": (600, 400)}  # (height, width)


def _keypoints(rng, size, count):
    h, w = size
    return np.column_stack([rng.uniform(0, w, count), rng.uniform(0, h, count)]).astype(np.float32)


@pytest.fixture
def colmap_db(tmp_path):
    """Three images, three matched pairs; two verified (one with stored inliers and a pose), one not."""
    rng = np.random.default_rng(0)
    path = tmp_path / "database.db"
    db = pycolmap.Database.open(str(path))
    ids, keypoints = {}, {}
    for name, (h, w) in SIZES.items():
        camera = pycolmap.Camera.create_from_model_name(0, "SIMPLE_RADIAL", 1.2 * max(h, w), w, h)
        camera_id = db.write_camera(camera)
        image_id = db.write_image(pycolmap.Image(name=name, camera_id=camera_id))
        ids[name] = image_id
        # COLMAP keypoints: x, y with the origin at the pixel corner, then the affine shape (6 columns).
        keypoints[name] = np.column_stack(
            [_keypoints(rng, (h, w), 50 + image_id), np.ones((50 + image_id, 4), np.float32)]
        ).astype(np.float32)
        db.write_keypoints(image_id, keypoints[name])
    raw = {
        ("a.jpg", "b.jpg"): np.array([[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]], np.uint32),
        ("c.jpg", "a.jpg"): np.array([[10, 11], [12, 13], [14, 15]], np.uint32),  # written in reverse id order
        ("b.jpg", "c.jpg"): np.array([[1, 1], [2, 2]], np.uint32),
    }
    for (n0, n1), matches in raw.items():
        db.write_matches(ids[n0], ids[n1], matches)
    geometry = pycolmap.TwoViewGeometry()
    geometry.config = pycolmap.TwoViewGeometryConfiguration.CALIBRATED
    geometry.inlier_matches = raw[("a.jpg", "b.jpg")][[0, 2, 4]]
    geometry.cam2_from_cam1 = pycolmap.Rigid3d(pycolmap.Rotation3d(np.array([0.0, 0.0, 0.0, 1.0])), [1.0, 0, 0])
    db.write_two_view_geometry(ids["a.jpg"], ids["b.jpg"], geometry)
    planar = pycolmap.TwoViewGeometry()
    planar.config = pycolmap.TwoViewGeometryConfiguration.PLANAR
    planar.inlier_matches = raw[("c.jpg", "a.jpg")][[1]]
    db.write_two_view_geometry(ids["c.jpg"], ids["a.jpg"], planar)
    db.close()
    return path, keypoints, raw


def _row(run, name0, name1):
    for index in range(len(run.pairs)):
        if set(run.pair_names(index)) == {name0, name1}:
            return index
    raise AssertionError(f"pair {name0} {name1} not found")


def test_colmap_database_written_by_pycolmap_opens_with_counts_and_geometry(colmap_db):
    path, _, raw = colmap_db
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"rigs", "frames"} <= tables, "pycolmap writes the schema with rig and frame tables"
    with open_run(path) as run:
        assert [image.name for image in run.images] == ["a.jpg", "b.jpg", "c.jpg"]
        assert run.images[2].size == (600, 400)
        assert len(run.pairs) == 3
        ab, ca, bc = _row(run, "a.jpg", "b.jpg"), _row(run, "c.jpg", "a.jpg"), _row(run, "b.jpg", "c.jpg")
        assert (run.pairs.matches[ab], run.pairs.matches[ca], run.pairs.matches[bc]) == (5, 3, 2)
        assert (run.pairs.inliers[ab], run.pairs.inliers[ca], run.pairs.inliers[bc]) == (3, 1, UNKNOWN)
        assert (run.pairs.geometry[ab], run.pairs.geometry[ca], run.pairs.geometry[bc]) == ("calibrated", "planar", "")


def test_colmap_pair_has_the_stored_keypoints_in_our_pixel_convention(colmap_db):
    path, keypoints, raw = colmap_db
    with open_run(path) as run:
        pair = run.read_pair(_row(run, "a.jpg", "b.jpg"))
        assert pair.names == ("a.jpg", "b.jpg")
        expected0 = keypoints["a.jpg"][raw[("a.jpg", "b.jpg")][:, 0], :2] - 0.5
        expected1 = keypoints["b.jpg"][raw[("a.jpg", "b.jpg")][:, 1], :2] - 0.5
        np.testing.assert_array_equal(pair.result.kpts0, expected0)
        np.testing.assert_array_equal(pair.result.kpts1, expected1)
        np.testing.assert_array_equal(pair.inliers, [True, False, True, False, True])
        assert pair.geometry == "calibrated"
        assert pair.result.image_sizes == ((480, 640), (480, 640))
        assert pair.intrinsics[0] is not None and pair.intrinsics[0].fx == pytest.approx(768.0)
        assert pair.intrinsics[0].cx == pytest.approx(320 - 0.5)
        assert pair.intrinsics[0].note == "focal length guessed, not known", "pycolmap's default: no focal prior"
        assert pair.stored_pose is not None
        np.testing.assert_allclose(pair.stored_pose[1], [1.0, 0.0, 0.0])
        np.testing.assert_allclose(pair.stored_pose[0], np.eye(3), atol=1e-12)


def test_colmap_pair_stored_in_reverse_order_comes_back_in_the_files_order(colmap_db):
    """write_matches(c, a) is stored under (a, c) with swapped columns: the reader follows the stored order."""
    path, keypoints, raw = colmap_db
    with open_run(path) as run:
        pair = run.read_pair(_row(run, "c.jpg", "a.jpg"))
        assert pair.names == ("a.jpg", "c.jpg")
        swapped = raw[("c.jpg", "a.jpg")][:, ::-1]
        np.testing.assert_array_equal(pair.result.kpts0, keypoints["a.jpg"][swapped[:, 0], :2] - 0.5)
        np.testing.assert_array_equal(pair.result.kpts1, keypoints["c.jpg"][swapped[:, 1], :2] - 0.5)
        np.testing.assert_array_equal(pair.inliers, [False, True, False])
        unverified = run.read_pair(_row(run, "b.jpg", "c.jpg"))
        assert unverified.inliers is None and len(unverified.result) == 2


def test_colmap_image_folder_gives_paths(colmap_db, tmp_path):
    path, _, _ = colmap_db
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (640, 480)).save(folder / "a.jpg")
    with open_run(path, image_dir=folder) as run:
        pair = run.read_pair(_row(run, "a.jpg", "b.jpg"))
        assert pair.image_paths == (folder / "a.jpg", None), "a missing image file is None, not a dead path"


def test_old_colmap_schema_without_rig_tables_opens(tmp_path):
    from core.formats.colmap import write_colmap
    from core.formats.hloc import PairMatches

    rng = np.random.default_rng(1)
    kpts0, kpts1 = _keypoints(rng, (100, 120), 20), _keypoints(rng, (100, 120), 20)
    path = tmp_path / "old.db"
    write_colmap(
        [PairMatches("x.png", "y.png", kpts0, kpts1, np.ones(20))], path, {"x.png": (100, 120), "y.png": (100, 120)}
    )
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "frames" not in tables
    with open_run(path) as run:
        assert len(run.pairs) == 1 and run.pairs.inliers[0] == UNKNOWN
        pair = run.read_pair(0)
        order0 = np.lexsort((pair.result.kpts0[:, 1], pair.result.kpts0[:, 0]))
        order_expected = np.lexsort((kpts0[:, 1], kpts0[:, 0]))
        np.testing.assert_allclose(pair.result.kpts0[order0], kpts0[order_expected], atol=1e-4)


def _names_to_pair(name0, name1):  # hloc's convention, written out independently of our writer
    return name0.replace("/", "-") + "/" + name1.replace("/", "-")


@pytest.fixture
def hloc_files(tmp_path):
    rng = np.random.default_rng(2)
    names = {"a.jpg": (480, 640), "sub/b.jpg": (480, 640), "c.jpg": (300, 200)}
    keypoints = {name: _keypoints(rng, size, 40) for name, size in names.items()}
    with h5py.File(tmp_path / "features.h5", "w") as features:
        for name, (h, w) in names.items():
            group = features.create_group(name)
            group.create_dataset("keypoints", data=keypoints[name])
            group.create_dataset("descriptors", data=rng.random((128, 40)).astype(np.float16))
            group.create_dataset("image_size", data=np.array([w, h]))
    stored = {  # pair as stored in matches.h5 -> (index into first image, index into second image)
        ("a.jpg", "sub/b.jpg"): np.array([[0, 5], [3, 7], [9, 1]]),
        ("c.jpg", "a.jpg"): np.array([[2, 2], [4, 8]]),
    }
    with h5py.File(tmp_path / "matches.h5", "w") as matches:
        for (n0, n1), pairs in stored.items():
            matches0 = np.full(40, -1, np.int16)
            scores0 = np.zeros(40, np.float16)
            matches0[pairs[:, 0]] = pairs[:, 1]
            scores0[pairs[:, 0]] = 0.75
            group = matches.create_group(_names_to_pair(n0, n1))
            group.create_dataset("matches0", data=matches0)
            group.create_dataset("matching_scores0", data=scores0)
    (tmp_path / "pairs.txt").write_text("a.jpg sub/b.jpg\na.jpg c.jpg\n")
    return tmp_path, keypoints, stored


def test_hloc_files_open_with_hlocs_pair_names(hloc_files):
    folder, keypoints, stored = hloc_files
    with open_run(folder / "matches.h5") as run:
        assert [image.name for image in run.images] == ["a.jpg", "c.jpg", "sub/b.jpg"]
        assert run.images[1].size is None, "sizes are read with a pair, not on opening"
        assert len(run.pairs) == 2
        assert run.pairs.matches.tolist() == [UNKNOWN, UNKNOWN], "opening reads no pair's matches"
        counted = {}
        count_pairs(run, run.uncounted(), counted.__setitem__)
        assert sorted(counted.values()) == [2, 3] and sorted(run.pairs.matches.tolist()) == [2, 3]
        assert len(run.uncounted()) == 0
        assert np.all(run.pairs.inliers == UNKNOWN), "hloc stores no verification"
        index = _row(run, "a.jpg", "sub/b.jpg")
        pair = run.read_pair(index)
        assert pair.inliers is None
        expected = stored[("a.jpg", "sub/b.jpg")]
        np.testing.assert_array_equal(pair.result.kpts0, keypoints["a.jpg"][expected[:, 0]])
        np.testing.assert_array_equal(pair.result.kpts1, keypoints["sub/b.jpg"][expected[:, 1]])
        np.testing.assert_allclose(pair.result.scores, 0.75)


def test_hloc_pairs_file_order_and_reversed_pairs(hloc_files):
    """The pairs file lists (a, c) while matches.h5 stores (c, a): found in reverse, as hloc's find_pair does."""
    folder, keypoints, stored = hloc_files
    with open_run(folder, pairs_file=folder / "pairs.txt") as run:
        assert [run.pair_names(i) for i in range(len(run.pairs))] == [("a.jpg", "sub/b.jpg"), ("a.jpg", "c.jpg")]
        pair = run.read_pair(1)
        assert run.pairs.matches[1] == 2, "reading a pair counts it"
        expected = stored[("c.jpg", "a.jpg")]
        np.testing.assert_array_equal(pair.result.kpts0, keypoints["a.jpg"][expected[:, 1]])
        np.testing.assert_array_equal(pair.result.kpts1, keypoints["c.jpg"][expected[:, 0]])
        assert pair.result.image_sizes == ((480, 640), (300, 200))


def test_pairs_file_naming_an_unmatched_pair_is_refused(hloc_files):
    folder, _, _ = hloc_files
    (folder / "pairs.txt").write_text("sub/b.jpg c.jpg\n")
    with pytest.raises(RunOpenError, match="not in the matches file"):
        open_run(folder / "matches.h5", pairs_file=folder / "pairs.txt")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not a database at all" * 10), "not a COLMAP database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE other (x)").connection.commit(), "no images"),
    ],
)
def test_broken_database_is_one_clear_error(tmp_path, make, message):
    path = tmp_path / "database.db"
    make(path)
    with pytest.raises(RunOpenError, match=message):
        open_run(path)


def test_missing_and_empty_inputs_are_refused(tmp_path):
    with pytest.raises(RunOpenError, match="not found"):
        open_run(tmp_path / "nothing.db")
    with pytest.raises(RunOpenError, match="holds no database.db"):
        open_run(tmp_path)
    broken = tmp_path / "matches.h5"
    broken.write_bytes(b"garbage")
    (tmp_path / "features.h5").write_bytes(b"garbage")
    with pytest.raises(RunOpenError, match="HDF5"):
        open_run(broken)


def test_batch_output_folder_opens_with_its_inlier_flags(tmp_path):
    from core.formats.match_files import MatchFile, write_matches

    (tmp_path / "pairs").mkdir()
    rng = np.random.default_rng(3)
    kpts0, kpts1 = _keypoints(rng, (90, 100), 12), _keypoints(rng, (80, 100), 12)
    inliers = rng.random(12) < 0.5
    scores = rng.random(12).astype(np.float32)  # not sorted: the reader returns matches best first
    provenance = {"image0": "p/x.png", "image1": "y.png", "image0_size": [90, 100], "image1_size": [80, 100]}
    write_matches(
        tmp_path / "pairs" / "p-x.png__y.png.npz",
        MatchFile(kpts0, kpts1, scores, provenance, inliers, np.zeros(12, np.float32)),
    )
    with open_run(tmp_path) as run:
        assert run.kind == "match-inspector batch"
        assert run.pairs.matches.tolist() == [12] and run.pairs.inliers.tolist() == [int(inliers.sum())]
        pair = run.read_pair(0)
        assert pair.names == ("p/x.png", "y.png")
        order = np.argsort(-scores, kind="stable")
        assert np.all(np.diff(pair.result.scores) <= 0), "best first, as core.matchers.eloftr returns results"
        np.testing.assert_array_equal(pair.result.kpts1, kpts1[order])
        np.testing.assert_array_equal(pair.inliers, inliers[order])  # the flags follow their matches
        assert pair.result.image_sizes == ((90, 100), (80, 100))


def test_reading_a_pair_outside_the_run_is_an_index_error(colmap_db):
    path, _, _ = colmap_db
    with open_run(path) as run, pytest.raises(IndexError):
        run.read_pair(len(run.pairs))


def test_image_folder_that_does_not_exist_is_refused(colmap_db):
    path, _, _ = colmap_db
    with pytest.raises(RunOpenError, match="image folder"):
        open_run(path, image_dir=Path(path).parent / "missing")


def test_intrinsics_come_from_exif_when_the_run_has_no_cameras_and_typed_in_focal_wins(hloc_files):
    folder, _, _ = hloc_files
    images = folder / "images"
    (images / "sub").mkdir(parents=True)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28  # 35 mm-equivalent focal length
    Image.new("RGB", (640, 480)).save(images / "a.jpg", exif=exif)
    Image.new("RGB", (640, 480)).save(images / "sub" / "b.jpg")  # no EXIF
    with open_run(folder) as run:
        assert run.image_dir == images, "images/ beside the run is found by itself"
        pair = run.read_pair(_row(run, "a.jpg", "sub/b.jpg"))
        assert pair.intrinsics[0] is not None and pair.intrinsics[0].fx == pytest.approx(28 / 36 * 640)
        assert pair.intrinsics[0].source.startswith("EXIF")
        assert pair.intrinsics[1] is None
        typed = run.read_pair(_row(run, "a.jpg", "sub/b.jpg"), focal_px=500.0)
        assert [k.fx for k in typed.intrinsics] == [500.0, 500.0]
        assert typed.intrinsics[1].source == "typed in" and typed.intrinsics[1].cx == pytest.approx(319.5)
        again = run.read_pair(_row(run, "a.jpg", "sub/b.jpg"))
        assert again.intrinsics[0].source.startswith("EXIF"), "a typed focal length is an argument, not kept"
        assert not hasattr(run, "focal_px")


def test_older_hloc_files_join_pair_names_with_an_underscore(hloc_files):
    folder, keypoints, stored = hloc_files
    with h5py.File(folder / "matches.h5", "a") as matches:
        for n0, n1 in list(stored):
            matches.move(_names_to_pair(n0, n1), n0.replace("/", "-") + "_" + n1.replace("/", "-"))
        for name in [k for k in matches if not len(matches[k])]:
            del matches[name]
    with open_run(folder / "matches.h5", pairs_file=folder / "pairs.txt") as run:
        pair = run.read_pair(0)
        expected = stored[("a.jpg", "sub/b.jpg")]
        np.testing.assert_array_equal(pair.result.kpts1, keypoints["sub/b.jpg"][expected[:, 1]])
    with open_run(folder / "matches.h5") as run:
        assert sorted(run.pair_names(i) for i in range(len(run.pairs))) == [("a.jpg", "sub/b.jpg"), ("c.jpg", "a.jpg")]


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_batch_folder_in_every_format_opens_with_the_sizes_its_files_record(tmp_path, suffix):
    """Files record [height, width] as image0_size_hw; a CSV's provenance sidecar is not a pair of its own."""
    from tests.two_image_runs import SIZE, keypoints, write_batch

    with open_run(write_batch(tmp_path, (keypoints(0), keypoints(1)), suffix)) as run:
        assert len(run.pairs) == 1
        assert [image.size for image in run.images] == [SIZE, SIZE]
        pair = run.read_pair(0)
    assert pair.result.image_sizes == (SIZE, SIZE)
    assert not any("unknown" in note for note in pair.result.info.notes)
