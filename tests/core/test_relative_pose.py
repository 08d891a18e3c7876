"""Relative pose on synthetic scenes with known R, t and intrinsics; degenerate scenes; the papers' pose AUC."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.intrinsics import Intrinsics, from_colmap_camera, from_exif
from core.analysis.overlap import check_overlap
from core.analysis.relative_pose import (
    PoseOptions,
    estimate_relative_pose,
    pose_auc,
    pose_error,
    relative_from_absolute,
    rotation_angle_deg,
)

K0 = Intrinsics(520.0, 520.0, 319.5, 239.5, "test")
K1 = Intrinsics(610.0, 600.0, 330.0, 250.0, "test")  # a different camera for image 1


def _rotation(axis, degrees):
    import cv2

    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return cv2.Rodrigues(axis * np.radians(degrees))[0]


def _project(points, intrinsics):
    pixels = points @ intrinsics.matrix.T
    return pixels[:, :2] / pixels[:, 2:]


def _views(rotation, translation, seed=0, n=400, planar=False):
    rng = np.random.default_rng(seed)
    depth = np.full(n, 8.0) if planar else rng.uniform(4, 16, n)
    points = np.column_stack([rng.uniform(-0.4, 0.4, n) * depth, rng.uniform(-0.3, 0.3, n) * depth, depth])
    return _project(points, K0), _project(points @ rotation.T + translation, K1)


@pytest.mark.parametrize(
    "axis, degrees, translation",
    [
        ([0.1, 1.0, 0.05], 12.0, [-1.0, 0.05, 0.2]),
        ([1.0, 0.2, -0.3], 5.0, [0.3, -0.8, 0.4]),
        ([0, 0, 1], 20, [1, 1, 0]),
    ],
)
def test_noise_free_pose_is_recovered(axis, degrees, translation):
    rotation, translation = _rotation(axis, degrees), np.asarray(translation, float)
    kpts0, kpts1 = _views(rotation, translation)
    pose = estimate_relative_pose(kpts0, kpts1, K0, K1)
    assert pose.confident, pose.status
    error = pose_error(pose.rotation, pose.translation, rotation, translation)
    assert error.rotation_deg < 0.5
    assert error.translation_deg < 2.0
    assert np.dot(pose.translation, translation) > 0, "the cheirality check picks the right sign"
    assert pose.rotation_deg == pytest.approx(degrees, abs=0.5)
    assert pose.in_front > 0.95 * len(kpts0)
    assert np.nanmax(pose.sampson_px) < 0.1


def test_outliers_are_rejected_and_sampson_errors_separate_them():
    rotation, translation = _rotation([0.2, 1, 0], 10), np.array([-1.0, 0.1, 0.1])
    kpts0, kpts1 = _views(rotation, translation, seed=4)
    rng = np.random.default_rng(5)
    kpts1 = kpts1 + rng.normal(0, 0.3, kpts1.shape)
    outliers = rng.random(len(kpts0)) < 0.3
    kpts1[outliers] = rng.uniform([0, 0], [640, 480], (outliers.sum(), 2))
    pose = estimate_relative_pose(kpts0, kpts1, K0, K1, PoseOptions(threshold_px=1.5))
    assert pose.confident, pose.status
    error = pose_error(pose.rotation, pose.translation, rotation, translation)
    assert error.rotation_deg < 1.0 and error.translation_deg < 5.0
    assert pose.inliers[~outliers].mean() > 0.9
    assert pose.inliers[outliers].mean() < 0.1
    assert np.median(pose.sampson_px[outliers]) > 10 * np.median(pose.sampson_px[~outliers])


def test_pure_rotation_is_reported_as_degenerate():
    rotation = _rotation([0.3, 1.0, 0.1], 8.0)
    kpts0, kpts1 = _views(rotation, np.zeros(3))
    pose = estimate_relative_pose(kpts0, kpts1, K0, K1)
    assert not pose.confident
    assert pose.degeneracy == "pure rotation"
    assert pose.translation is None and "translation is undefined" in pose.status
    assert rotation_angle_deg(pose.rotation.T @ rotation) < 0.5, "the rotation itself is still measured"


def test_planar_scene_is_reported_as_degenerate():
    rotation, translation = _rotation([0.1, 1.0, 0.0], 10.0), np.array([-1.0, 0.1, 0.3])
    kpts0, kpts1 = _views(rotation, translation, planar=True)
    pose = estimate_relative_pose(kpts0, kpts1, K0, K1)
    assert not pose.confident
    assert pose.degeneracy == "planar scene"
    assert "planar" in pose.status


def test_too_few_matches_give_a_status_not_an_exception():
    pose = estimate_relative_pose(np.zeros((3, 2)), np.zeros((3, 2)), K0, K1)
    assert pose.rotation is None and not pose.confident and "not enough matches" in pose.status
    assert pose.sampson_px.shape == (3,) and np.isnan(pose.sampson_px).all()


def test_pose_auc_equals_the_hand_computed_area():
    # Recall curve through (0, 0), (1, .25), (3, .5), (7, .75), (30, 1), flat after the last error below t.
    # @5:  [0-1] .125 + [1-3] .75 + [3-5] 1.0 = 1.875 / 5   = 0.375
    # @10: .125 + .75 + [3-7] 2.5 + [7-10] 2.25 = 5.625 / 10 = 0.5625
    # @20: .125 + .75 + 2.5 + [7-20] 9.75 = 13.125 / 20     = 0.65625
    assert pose_auc(np.array([7.0, 1.0, 30.0, 3.0])) == pytest.approx((0.375, 0.5625, 0.65625))
    assert pose_auc(np.array([np.inf, np.nan]))[0] == 0.0, "failed pairs count as infinite errors"


def test_pose_error_ignores_the_sign_of_t_and_relative_pose_composes():
    rotation = _rotation([0, 1, 0], 30)
    error = pose_error(rotation, np.array([1.0, 0, 0]), rotation, np.array([-1.0, 0, 0]))
    assert error.rotation_deg == pytest.approx(0, abs=1e-6) and error.translation_deg == pytest.approx(0, abs=1e-6)
    r0, t0 = _rotation([1, 0, 0], 10), np.array([0.0, 1, 2])
    r1, t1 = _rotation([0, 1, 1], 25), np.array([1.0, 0, 3])
    r, t = relative_from_absolute(r0, t0, r1, t1)
    point = np.array([0.3, -0.2, 5.0])
    np.testing.assert_allclose(r @ (r0 @ point + t0) + t, r1 @ point + t1)


def test_intrinsics_from_colmap_cameras_shift_the_principal_point_to_our_convention():
    simple = from_colmap_camera(1, 2, np.array([800.0, 320.0, 240.0, 0.01]))
    assert (simple.fx, simple.fy, simple.cx, simple.cy) == (800.0, 800.0, 319.5, 239.5)
    assert simple.note == "distortion ignored"
    pinhole = from_colmap_camera(2, 1, np.array([700.0, 710.0, 300.0, 200.0]))
    assert (pinhole.fx, pinhole.fy, pinhole.note) == (700.0, 710.0, "")
    with pytest.raises(ValueError, match="no pinhole"):
        from_colmap_camera(3, 17, np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        Intrinsics.from_focal(-5, (100, 100))


def test_intrinsics_from_exif(tmp_path):
    from PIL import Image

    image = Image.new("RGB", (400, 300))
    exif = Image.Exif()
    camera = exif.get_ifd(0x8769)
    camera[0x920A] = 8.0  # focal length, mm
    camera[0xA20E] = 250.0  # focal-plane pixels per unit
    camera[0xA210] = 4  # unit: mm
    camera[0xA002] = 800  # EXIF refers to an 800 px wide original: our file is half that
    image.save(tmp_path / "sensor.jpg", exif=exif)
    intrinsics = from_exif(tmp_path / "sensor.jpg")
    assert intrinsics is not None and intrinsics.fx == pytest.approx(8.0 * 250.0 / 2)
    assert (intrinsics.cx, intrinsics.cy) == (199.5, 149.5)
    exif35 = Image.Exif()
    exif35.get_ifd(0x8769)[0xA405] = 36
    image.save(tmp_path / "equiv.jpg", exif=exif35)
    equivalent = from_exif(tmp_path / "equiv.jpg")
    assert equivalent is not None and equivalent.fx == pytest.approx(400.0)
    image.save(tmp_path / "none.jpg")
    assert from_exif(tmp_path / "none.jpg") is None


def test_overlap_check_tells_spread_matches_from_a_cluster():
    rng = np.random.default_rng(0)
    spread = rng.uniform([0, 0], [640, 480], (200, 2))
    overlap = check_overlap(spread, spread + 3, ((480, 640), (480, 640)))
    assert overlap.verdict == "overlap" and min(overlap.coverage) > 0.8
    cluster = rng.uniform([100, 100], [130, 120], (40, 2))
    unrelated = check_overlap(cluster, cluster, ((480, 640), (480, 640)))
    assert unrelated.verdict == "no overlap found" and max(unrelated.coverage) < 0.05
    few = check_overlap(spread[:10], spread[:10], ((480, 640), (480, 640)))
    assert few.verdict == "no overlap found"
    flags = np.zeros(200, bool)
    flags[:30] = True
    assert check_overlap(spread, spread, ((480, 640), (480, 640)), inliers=flags).inliers == 30


def test_reference_poses_from_a_pycolmap_model_give_the_relative_pose(tmp_path):
    pycolmap = pytest.importorskip("pycolmap")
    from core.runs.reference_poses import find_model_beside, load_reference_poses

    reconstruction = pycolmap.Reconstruction()
    reconstruction.add_camera_with_trivial_rig(pycolmap.Camera.create_from_model_name(1, "SIMPLE_PINHOLE", 500, 64, 48))
    rotations = {"a.png": _rotation([0, 1, 0], 0.0), "b.png": _rotation([0, 1, 0], 10.0)}
    translations = {"a.png": np.zeros(3), "b.png": np.array([1.0, 0, 0])}
    for image_id, name in enumerate(rotations, start=1):
        quaternion = pycolmap.Rotation3d(rotations[name])
        reconstruction.add_image_with_trivial_frame(
            pycolmap.Image(name=name, camera_id=1, image_id=image_id),
            pycolmap.Rigid3d(quaternion, translations[name]),
        )
    model = tmp_path / "sparse" / "0"
    model.mkdir(parents=True)
    reconstruction.write(str(model))
    (tmp_path / "database.db").write_bytes(b"")
    assert find_model_beside(tmp_path / "database.db") == model
    reference = load_reference_poses(model)
    rotation, translation = reference.relative("a.png", "b.png")
    assert rotation_angle_deg(rotation.T @ rotations["b.png"]) < 1e-6
    np.testing.assert_allclose(translation, [1.0, 0, 0], atol=1e-9)
    assert reference.relative("a.png", "unregistered.png") is None
