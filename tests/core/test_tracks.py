"""Tracks across a run with known answers: hand-made graphs, and the rendered scene (known depth and poses) matched by
our SIFT batch, verified and triangulated by pycolmap."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from core.cli import run_cli
from core.formats.colmap import pair_id
from core.formats.match_files import MatchFile, write_matches
from core.runs.batch_folder import BatchFolderRun
from core.runs.open import open_run
from core.tracks.build import RunTracks, build_tracks
from core.tracks.options import TrackOptions
from tests.track_scene import SceneRun, write_scene_run

REPROJECTION_PX = 2.0  # a track's keypoints and the 3D point seen at its first keypoint, projected


def _write_database(path: Path, keypoints: dict[str, np.ndarray], matches: dict[tuple[str, str], list]) -> Path:
    """A COLMAP database written by pycolmap's API: keypoints in our convention (+0.5 on the way in), raw matches."""
    import pycolmap

    db = pycolmap.Database.open(str(path))
    ids = {}
    for name, points in keypoints.items():
        camera = pycolmap.Camera.create_from_model_name(len(ids) + 1, "SIMPLE_PINHOLE", 100.0, 200, 100)
        camera_id = db.write_camera(camera, use_camera_id=True)
        ids[name] = db.write_image(pycolmap.Image(name=name, camera_id=camera_id))
        db.write_keypoints(ids[name], (np.asarray(points, np.float32) + np.float32(0.5)))
    for (a, b), pairs in matches.items():
        db.write_matches(ids[a], ids[b], np.array(pairs, np.uint32).reshape(-1, 2))
    db.close()
    return path


def _points(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, np.float32)


def test_one_point_seen_by_four_images_is_one_track_and_a_stray_match_is_blamed(tmp_path):
    """A0..D0 see one point; A1-B1 another. The A-D pair also links A0 to D1, 50 px from D0: the track holds two
    keypoints of D; D0 has two matches, D1 one, so D1 is the odd one and the A-D pair is blamed, no other."""
    keypoints = {
        "A": _points((10, 10), (50, 50)),
        "B": _points((12, 11), (52, 49)),
        "C": _points((14, 12)),
        "D": _points((16, 13), (66, 13)),
    }
    matches = {
        ("A", "B"): [(0, 0), (1, 1)],
        ("A", "C"): [(0, 0)],
        ("B", "C"): [(0, 0)],
        ("C", "D"): [(0, 0)],
        ("B", "D"): [(0, 0)],
        ("A", "D"): [(0, 1)],
    }
    with open_run(_write_database(tmp_path / "database.db", keypoints, matches)) as run:
        built = build_tracks(run)
        tracks, graph = built.tracks, built.tracks.graph
        assert not graph.verified  # no two_view_geometries: the raw matches
        assert sorted(tracks.length.tolist()) == [2, 4]
        big = int(np.argmax(tracks.length))
        members = {(run.images[graph.image[n]].name, int(graph.keypoint[n])) for n in tracks.nodes(big)}
        assert members == {("A", 0), ("B", 0), ("C", 0), ("D", 0), ("D", 1)}
        assert len(tracks.edges(big)) == 6
        names = [image.name for image in run.images]
        assert dict(zip(names, built.conflicts.image.tolist())) == {"A": 0, "B": 0, "C": 0, "D": 1}
        blamed = {run.pair_names(p): int(c) for p, c in enumerate(built.conflicts.pair) if c}
        assert blamed == {("A", "D"): 1}
        assert built.conflicts.track[big] == 1 and built.conflicts.worst_tracks().tolist() == [big]
        # within the tolerance, two keypoints of one image are one point stored twice, not a conflict
        lenient = build_tracks(run, TrackOptions(conflict_px=60.0))
        assert not lenient.conflicts.image.any()


def _write_batch_pair(folder: Path, names: tuple[str, str], kpts0, kpts1) -> None:
    (folder / "pairs").mkdir(parents=True, exist_ok=True)
    provenance = {"image0": names[0], "image1": names[1], "image0_size_hw": [100, 200], "image1_size_hw": [100, 200]}
    scores = np.linspace(0.9, 0.5, len(kpts0)).astype(np.float32)
    match_file = MatchFile(_points(*kpts0), _points(*kpts1), scores, provenance, None, None)
    write_matches(folder / "pairs" / f"{names[0]}__{names[1]}.npz", match_file)


def test_per_pair_coordinates_are_merged_on_hlocs_one_pixel_grid(tmp_path):
    """Batch files carry each pair's own coordinates: B's keypoint at (20.2, 30.2) in one pair and (20.4, 30.4) in
    the other fall in one 1-px cell (one node, a track of three images); (60.2, 30) and (61.4, 30) fall in two cells,
    1.2 px apart: two tracks, and both keypoints counted as near within 2 px (not within 1 px)."""
    _write_batch_pair(tmp_path, ("A", "B"), [(5, 5), (40, 40)], [(20.2, 30.2), (60.2, 30.0)])
    _write_batch_pair(tmp_path, ("B", "C"), [(20.4, 30.4), (61.4, 30.0)], [(7, 7), (70, 70)])
    run = BatchFolderRun(tmp_path, None)
    built = build_tracks(run)
    graph = built.tracks.graph
    assert "1-px grid" in graph.identity and not graph.verified
    assert sorted(built.tracks.length.tolist()) == [2, 2, 3]
    b = [image.name for image in run.images].index("B")
    assert int(np.count_nonzero(graph.image == b)) == 3
    assert built.near[1.0][b] == 0 and built.near[2.0][b] == 2
    assert not built.conflicts.image.any()


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory) -> SceneRun:
    return write_scene_run(tmp_path_factory.mktemp("scene"))


def _reprojection_errors(scene_run: SceneRun, run, built: RunTracks) -> np.ndarray:
    """For every track: the 3D point seen at its first keypoint (ray cast in the true scene), projected into the
    other images of the track, against their keypoints."""
    tracks, graph = built.tracks, built.tracks.graph
    views = np.array([scene_run.view(image.name) for image in run.images])
    errors = []
    for track in range(len(tracks)):
        nodes = tracks.nodes(track)
        first = scene_run.scene.views[views[graph.image[nodes[0]]]]
        world = first.backproject(graph.xy[nodes[:1]])
        for node in nodes[1:]:
            xy, _ = scene_run.scene.views[views[graph.image[node]]].project(world)
            errors.append(float(np.linalg.norm(xy[0] - graph.xy[node])))
    return np.array(errors)


def test_tracks_of_the_rendered_scene_reproject_to_one_3d_point(scene_run):
    with open_run(scene_run.database) as run:
        built = build_tracks(run)
        assert built.tracks.graph.verified  # pycolmap verified the database: its verified matches make the tracks
        assert built.tracks.length.max() >= 5  # tracks run across the arc of views, not only pairs
        errors = _reprojection_errors(scene_run, run, built)
    assert len(errors) > 300
    # SIFT keypoints are sub-pixel; verification by a fundamental matrix lets a few matches along epipolar lines
    # through (repeated texture, occlusion edges): most, not all, keypoints lie on their track's point.
    assert np.median(errors) < 0.5
    assert np.mean(errors <= REPROJECTION_PX) > 0.85


def test_the_batch_files_of_the_same_run_merge_into_tracks_on_one_3d_point(scene_run):
    run = BatchFolderRun(scene_run.run, scene_run.images)  # the per-pair files beside the database
    built = build_tracks(run)
    assert not built.tracks.graph.verified  # the batch ran without --geometry: raw matches
    assert built.tracks.length.max() >= 5
    errors = _reprojection_errors(scene_run, run, built)
    assert np.median(errors) < 0.5  # raw matches hold more outliers than verified ones: only the median is tight


def _verified(database: Path) -> dict[int, np.ndarray]:
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT pair_id, rows, data FROM two_view_geometries").fetchall()
    finally:
        connection.close()
    return {int(p): np.frombuffer(d, np.uint32).reshape(r, 2).copy() for p, r, d in rows if r}


def test_a_planted_conflict_is_reported_in_its_image_and_pair(scene_run, tmp_path):
    """One verified match a -> b of pair (A, B) re-pointed to a keypoint of B far from b that no match uses: b keeps
    its other matches, the stray keypoint has one, so image B gets one more conflicting track and pair (A, B) one
    more conflicting match; nothing else changes."""
    database = tmp_path / "database.db"
    shutil.copy(scene_run.database, database)
    with open_run(database) as run:
        before = build_tracks(run)
        keypoints = run.keypoint_matches()
        ids = {image.name: i + 1 for i, image in enumerate(run.images)}  # our writer numbers images in name order
    assert keypoints is not None
    tracks, graph, conflicts = before.tracks, before.tracks.graph, before.conflicts
    node_of = {(int(i), int(k)): n for n, (i, k) in enumerate(zip(graph.image, graph.keypoint))}
    chosen = None
    for row in range(len(graph.pair)):
        a, b = int(graph.node0[row]), int(graph.node1[row])
        if tracks.degree[a] >= 2 and tracks.degree[b] >= 3 and not conflicts.track[tracks.track[a]]:
            chosen = row
            break
    assert chosen is not None
    pair = int(graph.pair[chosen])
    image_b = int(run.pairs.image1[pair])
    b = int(graph.node1[chosen])
    all_b = keypoints.keypoints[image_b]
    unused = [k for k in range(len(all_b)) if (image_b, k) not in node_of]
    far = [k for k in unused if np.linalg.norm(all_b[k] - graph.xy[b]) > 20]
    stray = far[0]
    name0, name1 = run.pair_names(pair)
    key = pair_id(ids[name0], ids[name1])
    verified = _verified(database)[key]
    row_in_blob = np.flatnonzero(
        (verified[:, 0] == graph.keypoint[graph.node0[chosen]]) & (verified[:, 1] == graph.keypoint[b])
    )
    verified[row_in_blob[0], 1] = stray
    connection = sqlite3.connect(database)
    connection.execute("UPDATE two_view_geometries SET data = ? WHERE pair_id = ?", (verified.tobytes(), key))
    connection.commit()
    connection.close()
    with open_run(database) as run:
        after = build_tracks(run)
    added_images = after.conflicts.image - conflicts.image
    added_pairs = after.conflicts.pair - conflicts.pair
    assert np.flatnonzero(added_images).tolist() == [image_b] and added_images[image_b] == 1
    assert np.flatnonzero(added_pairs).tolist() == [pair] and added_pairs[pair] == 1
    stray_node = np.flatnonzero((after.tracks.graph.image == image_b) & (after.tracks.graph.keypoint == stray))
    assert after.conflicts.extra[stray_node].all()


def test_the_triangulated_share_per_pair_equals_pycolmaps_count(scene_run):
    import pycolmap

    reconstruction = pycolmap.Reconstruction(str(scene_run.model))
    db = pycolmap.Database.open(str(scene_run.database))
    try:
        images = {image.name: image.image_id for image in db.read_all_images()}
        with open_run(scene_run.database) as run:
            built = build_tracks(run, model=scene_run.model)
            found = built.triangulation
            assert found is not None and found.registered.all()
            for pair in range(len(run.pairs)):
                name0, name1 = run.pair_names(pair)
                image0, image1 = reconstruction.image(images[name0]), reconstruction.image(images[name1])
                inliers = db.read_two_view_geometry(images[name0], images[name1]).inlier_matches
                expected = 0
                for k0, k1 in inliers:
                    p0, p1 = image0.point2D(int(k0)), image1.point2D(int(k1))
                    expected += int(p0.has_point3D() and p1.has_point3D() and p0.point3D_id == p1.point3D_id)
                assert found.pair[pair] == expected
                assert 0 < expected < len(inliers)  # a real check: neither none nor all became 3D points
            # per keypoint: its 3D point's track length and error, as the model says
            observed = found.point3d >= 0
            assert observed.sum() == reconstruction.compute_num_observations()
            node = int(np.flatnonzero(observed)[0])
            point = reconstruction.points3D[int(found.point3d[node])]
            assert found.point_length[node] == point.track.length()
            assert found.point_error[node] == pytest.approx(point.error, rel=1e-5)
    finally:
        db.close()


def test_the_tracks_command_writes_per_image_and_per_pair_figures(scene_run, tmp_path, capsys):
    report = tmp_path / "report.json"
    assert run_cli(["tracks", str(scene_run.database), "-o", str(report)]) == 0  # finds sparse/0 beside it
    assert "matches triangulated" in capsys.readouterr().out
    document = json.loads(report.read_text())
    summary = document["summary"]
    assert summary["matches_used"] == "verified" and summary["model"] == str(scene_run.model)
    assert sum(summary["track_lengths"].values()) == summary["tracks"]
    assert {row["image"] for row in document["images"]} == {f"view_{i:02d}.png" for i in range(6)}
    first = document["pairs"][0]
    assert first["triangulated_share"] == pytest.approx(first["triangulated"] / first["matches"], abs=1e-4)
    conflicts = [row["conflicting_matches"] for row in document["pairs"]]
    assert conflicts == sorted(conflicts, reverse=True)  # worst first
    table = tmp_path / "report.csv"
    assert run_cli(["tracks", str(scene_run.run), "-o", str(table)]) == 0
    lines = table.read_text().splitlines()
    assert lines[0].startswith("kind,image,image1,keypoints,tracks,track_lengths")
    assert sum(line.startswith("image,") for line in lines) == 6
    assert sum(line.startswith("pair,") for line in lines) == len(document["pairs"])


def test_the_tracks_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert run_cli(["tracks", str(tmp_path / "missing.db"), "-o", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert run_cli(["tracks", str(tmp_path), "-o", str(tmp_path / "r.txt")]) == 2
    assert "must end in one of .json, .csv" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(["tracks", str(tmp_path / "empty"), "-o", str(tmp_path / "r.json")]) == 2
    assert "holds no database.db" in capsys.readouterr().err
    damaged = _write_database(
        tmp_path / "damaged.db", {"A": _points((1, 1)), "B": _points((2, 2))}, {("A", "B"): [(0, 5)]}
    )
    assert run_cli(["tracks", str(damaged), "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keypoint 5 of B, which has 1" in err
    assert not (tmp_path / "r.json").exists()


def _track_sets(run, built: RunTracks) -> set[frozenset[tuple[str, int]]]:
    tracks, graph = built.tracks, built.tracks.graph
    return {
        frozenset((run.images[int(graph.image[n])].name, int(graph.keypoint[n])) for n in tracks.nodes(t))
        for t in range(len(tracks))
    }


def test_the_same_batch_as_hloc_files_and_as_a_raw_database_gives_the_same_tracks(scene_run, tmp_path):
    """Our hloc and COLMAP writers merge the keypoints alike: read through either reader (hloc's matches0 with its
    group order, COLMAP's id0 < id1 blobs), the raw matches make the same tracks, node for node."""
    pairs = tmp_path / "pairs.txt"
    pairs.write_text((scene_run.run / "pairs_matched.txt").read_text())
    out = tmp_path / "hloc"
    argv = ["batch", "--pairs", str(pairs), "--images", str(scene_run.images), "-o", str(out), "--matcher", "sift"]
    assert run_cli([*argv, "--format", "hloc", "--no-progress"]) == 0
    database = tmp_path / "database.db"
    shutil.copy(scene_run.database, database)
    connection = sqlite3.connect(database)
    connection.execute("DELETE FROM two_view_geometries")  # back to the raw matches
    connection.commit()
    connection.close()
    with open_run(out / "matches.h5") as hloc_run, open_run(database) as colmap_run:
        from_hloc, from_colmap = build_tracks(hloc_run), build_tracks(colmap_run)
        assert not from_hloc.tracks.graph.verified and not from_colmap.tracks.graph.verified
        assert len(from_hloc.tracks.graph.pair) == len(from_colmap.tracks.graph.pair) > 500
        assert _track_sets(hloc_run, from_hloc) == _track_sets(colmap_run, from_colmap)
        assert hloc_run.keypoint_matches().scores.min() < 1  # hloc stores scores, COLMAP none


def test_an_unregistered_image_lists_the_2d3d_correspondences_colmaps_graph_finds(scene_run, tmp_path):
    """The model without one image: it is unregistered, and its 2D-3D correspondences are counted as pycolmap's own
    correspondence graph (DatabaseCache, transitive correspondences) finds them: keypoints of the image linked, through
    any chain of verified matches, to a keypoint the model triangulated."""
    import pycolmap

    reconstruction = pycolmap.Reconstruction(str(scene_run.model))
    dropped = next(image for image in reconstruction.images.values() if image.name == "view_02.png")
    reconstruction.deregister_frame(dropped.frame_id)
    model = tmp_path / "model"
    model.mkdir()
    reconstruction.write(str(model))
    reconstruction = pycolmap.Reconstruction(str(model))
    db = pycolmap.Database.open(str(scene_run.database))
    try:
        graph = pycolmap.DatabaseCache.create(db, pycolmap.DatabaseCacheOptions()).correspondence_graph
        keypoints = len(db.read_keypoints(dropped.image_id))
    finally:
        db.close()

    def triangulated(image_id: int, point2d: int) -> bool:
        if not reconstruction.exists_image(image_id):  # the model keeps no unregistered image
            return False
        image = reconstruction.image(image_id)
        return image.has_pose and image.point2D(point2d).has_point3D()

    expected = 0
    for k in range(keypoints):
        linked = graph.extract_transitive_correspondences(dropped.image_id, k, 1000)
        expected += any(triangulated(c.image_id, c.point2D_idx) for c in linked)
    with open_run(scene_run.database) as run:
        built = build_tracks(run, model=model)
        index = [image.name for image in run.images].index("view_02.png")
    found = built.triangulation
    assert found is not None
    assert not found.registered[index] and found.registered.sum() == len(run.images) - 1
    assert found.image_points[index] == 0
    assert found.correspondences_2d3d[index] == expected > 20


def test_a_model_asked_for_must_be_readable_one_found_beside_the_run_may_not_be(scene_run, tmp_path, capsys):
    empty = tmp_path / "no-model"
    empty.mkdir()
    report = tmp_path / "r.json"
    assert run_cli(["tracks", str(scene_run.database), "--reference", str(empty), "-o", str(report)]) == 2
    assert "holds no COLMAP model" in capsys.readouterr().err and not report.exists()
    run = tmp_path / "run"
    (run / "sparse" / "0").mkdir(parents=True)
    shutil.copy(scene_run.database, run / "database.db")
    (run / "sparse" / "0" / "images.bin").write_bytes(b"not a model")
    assert run_cli(["tracks", str(run), "-o", str(report)]) == 0
    err = capsys.readouterr().err
    assert "cannot read the COLMAP model" in err and "leaves the model out" in err
    assert json.loads(report.read_text())["summary"]["model"] is None
