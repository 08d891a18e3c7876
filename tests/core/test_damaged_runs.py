"""Damaged matching runs: non-finite keypoints are left out with a note, and every malformed array, table or dataset
is one RunOpenError naming the file, the pair and what is wrong (never an IndexError or ValueError from numpy).

Every run is two images, a.jpg and b.jpg, whose keypoint k matches keypoint k for k < 5 (tests/two_image_runs.py).
"""

from __future__ import annotations

import json
import sqlite3

import h5py
import numpy as np
import pytest

from core.runs.base import RunOpenError, count_pairs
from core.runs.open import open_run
from tests.two_image_runs import (
    KEYPOINTS,
    MATCHED,
    keypoints,
    replace_dataset,
    write_batch,
    write_database,
    write_hloc,
    write_npz,
)

KEPT = [0, 2, 4]  # the matches left when keypoint 1 of a.jpg is NaN and keypoint 3 of b.jpg infinite
DROPPED = "dropped 2 matches with non-finite keypoints"


def _non_finite() -> tuple[np.ndarray, np.ndarray]:
    a, b = keypoints(0), keypoints(1)
    a[1, 0] = np.nan
    b[3, 1] = np.inf
    b[5] = -np.inf  # matched by nothing: nothing to drop for it
    return a, b


def _healthy() -> tuple[np.ndarray, np.ndarray]:
    return keypoints(0), keypoints(1)


def _read_error(path, **options) -> str:
    with open_run(path, **options) as run, pytest.raises(RunOpenError) as caught:
        run.read_pair(0)
    return str(caught.value)


# --- non-finite keypoints -----------------------------------------------------------------------------------------
def test_colmap_matches_with_non_finite_keypoints_are_dropped_with_their_inlier_flags(tmp_path):
    a, b = _non_finite()
    path = write_database(tmp_path / "database.db", (a, b), verified=np.array([0, 1, 2]))
    with open_run(path) as run:
        assert run.pairs.matches.tolist() == [5], "the table counts what the file stores"
        pair = run.read_pair(0)
    np.testing.assert_allclose(pair.result.kpts0, a[KEPT], atol=1e-4)
    np.testing.assert_allclose(pair.result.kpts1, b[KEPT], atol=1e-4)
    np.testing.assert_array_equal(pair.inliers, [True, True, False])
    assert pair.result.info.notes == ("COLMAP stores no match scores: every score is 1", DROPPED)


def test_hloc_matches_with_non_finite_keypoints_are_dropped_with_their_scores(tmp_path):
    a, b = _non_finite()
    with open_run(write_hloc(tmp_path, (a, b))) as run:
        pair = run.read_pair(0)
    np.testing.assert_array_equal(pair.result.kpts0, a[KEPT])
    np.testing.assert_array_equal(pair.result.kpts1, b[KEPT])
    np.testing.assert_allclose(pair.result.scores, np.linspace(0.9, 0.5, 5)[KEPT])
    assert pair.result.info.notes == (DROPPED,)


def test_hloc_size_taken_from_keypoints_ignores_the_non_finite_ones(tmp_path):
    a, b = _non_finite()
    matches = write_hloc(tmp_path, (a, b))
    for name in ("a.jpg", "b.jpg"):
        replace_dataset(tmp_path / "features.h5", f"{name}/image_size", None)
    with open_run(matches) as run:
        pair = run.read_pair(0)
    finite = b[np.isfinite(b).all(axis=1)]
    assert pair.result.image_sizes[1] == (int(np.ceil(finite[:, 1].max() + 1)), int(np.ceil(finite[:, 0].max() + 1)))
    assert pair.result.info.notes == (
        "size of a.jpg unknown: taken from its keypoints",
        "size of b.jpg unknown: taken from its keypoints",
        DROPPED,
    )


@pytest.mark.parametrize("suffix", [".npz", ".json", ".csv"])
def test_batch_matches_with_non_finite_keypoints_are_dropped_in_every_format(tmp_path, suffix):
    a, b = _non_finite()
    inliers = np.array([True, False, True, True, False])
    with open_run(write_batch(tmp_path, (a, b), suffix, inliers=inliers)) as run:
        assert run.pairs.matches.tolist() == [5]
        pair = run.read_pair(0)
    np.testing.assert_array_equal(pair.result.kpts0, a[KEPT])
    np.testing.assert_array_equal(pair.result.kpts1, b[KEPT])
    np.testing.assert_array_equal(pair.inliers, inliers[KEPT])
    assert pair.result.info.notes[-1] == DROPPED


def test_json_null_coordinates_count_as_non_finite(tmp_path):
    """JSON has no NaN: other writers put null there."""
    a, b = _healthy()
    folder = write_batch(tmp_path, (a, b), ".json")
    path = folder / "pairs" / "a.jpg__b.jpg.json"
    data = json.loads(path.read_text())
    data["kpts1"][2] = [None, 3.0]
    path.write_text(json.dumps(data))
    with open_run(folder) as run:
        pair = run.read_pair(0)
    np.testing.assert_array_equal(pair.result.kpts1, b[[0, 1, 3, 4]])
    assert pair.result.info.notes[-1] == "dropped 1 match with non-finite keypoints"


def test_matches_with_a_non_finite_score_are_dropped_and_the_note_says_why(tmp_path):
    a, b = _healthy()
    scores = np.array([0.9, np.nan, 0.7, np.inf, 0.5], np.float32)
    with open_run(write_batch(tmp_path, (a, b), scores=scores)) as run:
        pair = run.read_pair(0)
    np.testing.assert_array_equal(pair.result.kpts0, a[KEPT])
    np.testing.assert_array_equal(pair.result.scores, scores[KEPT])
    assert pair.result.info.notes[-1] == "dropped 2 matches with a non-finite score"


def test_a_healthy_pair_has_no_drop_note(tmp_path):
    with open_run(write_hloc(tmp_path, _healthy())) as run:
        pair = run.read_pair(0)
    assert len(pair.result) == len(MATCHED) and pair.result.info.notes == ()


# --- hloc -----------------------------------------------------------------------------------------------------------
MATCHES0 = "a.jpg/b.jpg/matches0"
SCORES0 = "a.jpg/b.jpg/matching_scores0"


def _matches0(*changes: tuple[int, int]) -> np.ndarray:
    matches0 = np.full(KEYPOINTS, -1, np.int32)
    matches0[MATCHED] = MATCHED
    for position, value in changes:
        matches0[position] = value
    return matches0


@pytest.mark.parametrize(
    "file, dataset, data, problem",
    [
        (
            "matches.h5",
            MATCHES0,
            np.zeros((KEYPOINTS, 2), np.int32),
            "matches.h5 a.jpg/b.jpg/matches0 has shape (6, 2), not (N,) keypoint indices",
        ),
        (
            "matches.h5",
            MATCHES0,
            np.array([b"0"] * KEYPOINTS),
            "matches.h5 a.jpg/b.jpg/matches0 holds bytes, not whole-number keypoint indices",
        ),
        (
            "matches.h5",
            MATCHES0,
            np.full(KEYPOINTS, 0.5),
            "matches.h5 a.jpg/b.jpg/matches0 holds float64 values, not whole-number keypoint indices",
        ),
        (
            "matches.h5",
            MATCHES0,
            _matches0((5, -5)),
            "matches.h5 a.jpg/b.jpg/matches0 holds -5: only -1 (no match) is negative",
        ),
        (
            "matches.h5",
            MATCHES0,
            _matches0((0, KEYPOINTS)),
            "a match points to keypoint 6 of b.jpg, which has 6 keypoints",
        ),
        (
            "matches.h5",
            SCORES0,
            np.ones(4, np.float32),
            "matches.h5 a.jpg/b.jpg/matching_scores0 holds 4 values, not 6",
        ),
        (
            "matches.h5",
            SCORES0,
            np.ones((KEYPOINTS, 1), np.float32),
            "matches.h5 a.jpg/b.jpg/matching_scores0 has shape (6, 1), not one value per match",
        ),
        ("matches.h5", SCORES0, None, "matches.h5 has no dataset a.jpg/b.jpg/matching_scores0"),
        (
            "features.h5",
            "a.jpg/keypoints",
            np.zeros((KEYPOINTS, 3), np.float32),
            "features.h5 a.jpg/keypoints has shape (6, 3), not (N, 2) points",
        ),
        (
            "features.h5",
            "b.jpg/keypoints",
            np.full((KEYPOINTS, 2), b"1"),
            "features.h5 b.jpg/keypoints holds bytes, not numbers",
        ),
        (
            "features.h5",
            "a.jpg/image_size",
            np.array([0, 60]),
            "features.h5 a.jpg/image_size is 60 x 0 (height x width), not two positive whole numbers",
        ),
        (
            "features.h5",
            "b.jpg/image_size",
            np.array([80, 60, 3]),
            "features.h5 b.jpg/image_size has shape (3,), not (width, height)",
        ),
    ],
)
def test_malformed_hloc_dataset_is_one_error_naming_it(tmp_path, file, dataset, data, problem):
    matches = write_hloc(tmp_path, _healthy())
    replace_dataset(tmp_path / file, dataset, data)
    assert _read_error(matches) == f"matches.h5: cannot read pair a.jpg – b.jpg ({problem})"


def test_matches0_longer_than_the_keypoints_of_the_first_image_is_refused(tmp_path):
    matches = write_hloc(tmp_path, _healthy())
    replace_dataset(matches, MATCHES0, np.append(_matches0(), 2))
    replace_dataset(matches, SCORES0, np.ones(KEYPOINTS + 1, np.float32))
    assert _read_error(matches) == (
        "matches.h5: cannot read pair a.jpg – b.jpg (a match points to keypoint 6 of a.jpg, which has 6 keypoints)"
    )


def test_a_group_where_the_keypoints_belong_is_refused(tmp_path):
    matches = write_hloc(tmp_path, _healthy())
    replace_dataset(tmp_path / "features.h5", "b.jpg/keypoints", None)
    with h5py.File(tmp_path / "features.h5", "a") as features:
        features.create_dataset("b.jpg/keypoints/x", data=np.zeros(3))
    assert _read_error(matches) == (
        "matches.h5: cannot read pair a.jpg – b.jpg (features.h5 has no dataset b.jpg/keypoints)"
    )


def test_2d_matches0_is_refused_when_counting_too(tmp_path):
    matches = write_hloc(tmp_path, _healthy())
    replace_dataset(matches, MATCHES0, np.zeros((KEYPOINTS, 2), np.int32))
    expected = (
        "matches.h5: cannot read pair a.jpg – b.jpg "
        "(matches.h5 a.jpg/b.jpg/matches0 has shape (6, 2), not (N,) keypoint indices)"
    )
    with open_run(matches) as run:
        with pytest.raises(RunOpenError) as caught:
            run.count_matches(0)
        assert str(caught.value) == expected
        counted: dict[int, int | str] = {}
        count_pairs(run, [0], counted.__setitem__)
        assert counted == {0: f"cannot count the matches of pair 0 ({expected})"}


def test_whole_number_floats_are_indices_as_good_as_integers(tmp_path):
    a, b = _healthy()
    matches = write_hloc(tmp_path, (a, b))
    replace_dataset(matches, MATCHES0, _matches0().astype(np.float32))
    with open_run(matches) as run:
        assert run.count_matches(0) == len(MATCHED)
        np.testing.assert_array_equal(run.read_pair(0).result.kpts1, b[MATCHED])


def test_a_dataset_where_pair_groups_belong_is_refused_on_opening(tmp_path):
    matches = write_hloc(tmp_path, _healthy())
    with h5py.File(matches, "a") as handle:
        handle.create_dataset("stray", data=np.zeros(3))
    with pytest.raises(RunOpenError) as caught:
        open_run(matches)
    assert str(caught.value) == "matches.h5: 'stray' is a dataset, not a group of pairs"


ODD_ARRAYS = [
    np.int32(3),
    np.zeros((KEYPOINTS, 2, 2)),
    np.zeros(0, np.int32),
    np.zeros((0, 2), np.float32),
    np.array([True] * KEYPOINTS),
    np.full(KEYPOINTS, 1 + 2j),
    np.full(KEYPOINTS, np.iinfo(np.uint64).max),
    np.full(KEYPOINTS, np.nan),
    np.full(KEYPOINTS, 1e30),
    np.full(KEYPOINTS, -7, np.int64),
    np.zeros(KEYPOINTS, [("x", "f4"), ("y", "f4")]),
    np.arange(2 * KEYPOINTS, dtype=np.float32).reshape(-1, 2),
]


@pytest.mark.parametrize("dataset", [MATCHES0, SCORES0, "a.jpg/keypoints", "b.jpg/image_size"])
@pytest.mark.parametrize("odd", range(len(ODD_ARRAYS)))
def test_any_array_in_place_of_an_hloc_dataset_gives_a_pair_or_one_run_error(tmp_path, dataset, odd):
    """Systematic: whatever a dataset holds, the readers answer with a pair or a RunOpenError."""
    matches = write_hloc(tmp_path, _healthy())
    replace_dataset(
        tmp_path / ("features.h5" if dataset.endswith(("keypoints", "size")) else "matches.h5"),
        dataset,
        ODD_ARRAYS[odd],
    )
    with open_run(matches) as run:
        for read in (run.count_matches, run.read_pair):
            try:
                read(0)
            except RunOpenError as exc:
                assert str(exc).startswith("matches.h5: cannot read pair a.jpg – b.jpg (") and "\n" not in str(exc)


def test_the_shared_checks_refuse_what_numpy_would_wrap_or_round():
    from core.formats.stored_arrays import indices, size_hw, take

    with pytest.raises(ValueError, match="^a match points to keypoint -1 of a.jpg: keypoint indices are not negative$"):
        take(np.zeros((3, 2)), np.array([-1]), "a.jpg")
    with pytest.raises(ValueError, match="^m holds the index 18446744073709551615, larger than any keypoint count$"):
        indices(np.array([2**64 - 1], np.uint64), "m")
    with pytest.raises(ValueError, match="not two positive whole numbers$"):
        size_hw(10**400, 5, "size")
    with pytest.raises(ValueError, match="^size is True x 5 "):
        size_hw(True, 5, "size")
    assert size_hw(np.int64(4), 5.0, "size") == (4, 5)


# --- COLMAP ---------------------------------------------------------------------------------------------------------
PAIR_ID = 2147483647 + 2  # images 1 and 2


@pytest.mark.parametrize(
    "sql, problem",
    [
        (
            "UPDATE keypoints SET data = substr(data, 1, 40) WHERE image_id = 1",
            "the keypoints blob of a.jpg holds 40 bytes, not the 6 x 2 float32 it claims",
        ),
        (
            "UPDATE keypoints SET rows = 12, cols = 1 WHERE image_id = 1",
            "the keypoints blob of a.jpg has shape (12, 1), not (N, 2) points",
        ),
        (
            "UPDATE keypoints SET rows = 'six' WHERE image_id = 2",
            "the keypoints blob of b.jpg: rows 'six' and cols 2 are not counts",
        ),
        ("DELETE FROM keypoints WHERE image_id = 2", "a match points to keypoint 4 of b.jpg, which has 0 keypoints"),
        (
            "UPDATE matches SET data = substr(data, 1, 20)",
            "the matches blob holds 20 bytes, not the 5 x 2 uint32 it claims",
        ),
        (
            "UPDATE matches SET data = zeroblob(40), rows = 2, cols = 5",
            "the matches blob has shape (2, 5), not (N, 2) keypoint indices",
        ),
        (
            f"UPDATE matches SET data = X'{np.array([[0, 6]], np.uint32).tobytes().hex()}', rows = 1",
            "a match points to keypoint 6 of b.jpg, which has 6 keypoints",
        ),
        (
            "UPDATE two_view_geometries SET data = zeroblob(4)",
            "the verified matches blob holds 4 bytes, not the 3 x 2 uint32 it claims",
        ),
    ],
)
def test_malformed_colmap_blob_is_one_error_naming_it(tmp_path, sql, problem):
    path = write_database(tmp_path / "database.db", _healthy(), verified=np.array([0, 1, 2]))
    with sqlite3.connect(path) as connection:
        connection.execute(sql)
    assert _read_error(path) == f"database.db: cannot read pair a.jpg – b.jpg ({problem})"


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("UPDATE matches SET rows = 'x'", f"the matches table holds the row ({PAIR_ID}, 'x'), not whole numbers"),
        (
            "UPDATE matches SET rows = -1",
            f"the matches table holds the row ({PAIR_ID}, -1): a negative number of matches",
        ),
        (
            "UPDATE two_view_geometries SET config = 'x'",
            f"the two_view_geometries table holds the row ({PAIR_ID}, 3, 'x'), not whole numbers",
        ),
        (
            "UPDATE cameras SET width = 0 WHERE camera_id = 1",
            "the size of camera 1 is 60 x 0 (height x width), not two positive whole numbers",
        ),
        (
            "UPDATE cameras SET params = zeroblob(13) WHERE camera_id = 2",
            "the parameters of camera 2 are not a blob of float64 values",
        ),
        (
            "UPDATE cameras SET params = zeroblob(16) WHERE camera_id = 2",
            "COLMAP camera 2 (SIMPLE_RADIAL): 2 parameters, expected 4",
        ),
        (
            "PRAGMA ignore_check_constraints = ON; UPDATE images SET image_id = -1 WHERE image_id = 1",
            "image a.jpg has the id -1, outside the range of COLMAP image ids",
        ),
    ],
)
def test_malformed_colmap_table_is_refused_on_opening(tmp_path, sql, problem):
    path = write_database(tmp_path / "database.db", _healthy(), verified=np.array([0, 1, 2]))
    with sqlite3.connect(path) as connection:
        connection.executescript(sql)
    with pytest.raises(RunOpenError) as caught:
        open_run(path)
    assert str(caught.value) == f"database.db: cannot read the database ({problem})"


def test_a_stored_matrix_of_the_wrong_size_is_left_out_with_a_note(tmp_path):
    path = write_database(tmp_path / "database.db", _healthy(), verified=np.array([0, 1, 2]))
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE two_view_geometries SET F = zeroblob(40), tvec = zeroblob(8)")
    with open_run(path) as run:
        pair = run.read_pair(0)
    assert sorted(pair.matrices) == ["E", "H"] and pair.stored_pose is None
    assert pair.result.info.notes[1:] == (
        "the stored F is left out: 40 bytes, not 9 float64 values",
        "the stored translation (tvec) is left out: 8 bytes, not 3 float64 values",
    )
    assert len(pair.result) == len(MATCHED), "the matches themselves are fine"


# --- batch folders --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "replaced, problem",
    [
        ({"kpts0": np.zeros((5, 3), np.float32)}, "kpts0 has shape (5, 3), not (N, 2) points"),
        ({"kpts1": np.zeros((10, 1), np.float32)}, "kpts1 has shape (10, 1), not (N, 2) points"),
        ({"scores": np.array(["high"] * 5)}, "scores holds text, not numbers"),
        ({"scores": np.ones(4, np.float32)}, "the keypoint and score arrays do not have the same length"),
        (
            {"inliers": np.array([0, 1, 2, 0, 1]), "residuals_px": np.zeros(5, np.float32)},
            "the inlier column holds values other than true / false (dtype int64)",
        ),
        (
            {"inliers": np.ones(3, bool), "residuals_px": np.zeros(5, np.float32)},
            "the inlier column has shape (3,), not one flag for each of 5 matches",
        ),
        (
            {"inliers": np.ones(5, bool), "residuals_px": np.zeros(4, np.float32)},
            "the residual column holds 4 values, not 5",
        ),
        ({"provenance": {"image0_size_hw": "big"}}, "image0_size_hw is 'big', not [height, width]"),
        (
            {"provenance": {"image1_size_hw": [60, -80]}},
            "image1_size_hw is 60 x -80 (height x width), not two positive whole numbers",
        ),
    ],
)
def test_malformed_batch_file_is_refused_on_opening(tmp_path, replaced, problem):
    folder = write_npz(tmp_path, _healthy(), **replaced)
    with pytest.raises(RunOpenError) as caught:
        open_run(folder)
    assert str(caught.value) == f"cannot read a.jpg__b.jpg.npz: it is not a complete match file (ValueError: {problem})"


def test_batch_provenance_that_describes_no_run_is_refused_when_read(tmp_path):
    folder = write_npz(tmp_path, _healthy(), provenance={"inference_sizes": "x"})
    with open_run(folder) as run, pytest.raises(RunOpenError) as caught:
        run.read_pair(0)
    assert str(caught.value) == (
        "a.jpg__b.jpg.npz: its provenance does not describe a run (invalid literal for int() with base 10: 'x')"
    )


@pytest.mark.parametrize("key", ["kpts0", "scores", "inliers"])
@pytest.mark.parametrize("odd", range(len(ODD_ARRAYS)))
def test_any_array_in_a_batch_file_gives_a_pair_or_one_run_error(tmp_path, key, odd):
    extra = {"residuals_px": np.zeros(len(MATCHED), np.float32)} if key == "inliers" else {}
    folder = write_npz(tmp_path, _healthy(), **{key: ODD_ARRAYS[odd]}, **extra)
    try:
        with open_run(folder) as run:
            run.read_pair(0)
    except RunOpenError as exc:
        assert "a.jpg__b.jpg.npz" in str(exc) and "\n" not in str(exc)
