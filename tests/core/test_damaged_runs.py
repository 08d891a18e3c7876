"""Damaged matching runs: matches with non-finite keypoints or scores are left out, with a note.

Every run is two images, a.jpg and b.jpg, whose keypoint k matches keypoint k for k < 5 (tests/two_image_runs.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.matching_run import open_run
from tests.two_image_runs import (
    MATCHED,
    keypoints,
    replace_dataset,
    write_batch,
    write_database,
    write_hloc,
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
