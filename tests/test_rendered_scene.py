"""The rendered multi-view scene is geometrically consistent: what one view sees at a pixel, another view sees where
that pixel's 3D point projects, and depth varies (real parallax, not one plane)."""

from __future__ import annotations

import numpy as np

from tests.rendered_scene import render_scene


def test_points_seen_in_one_view_look_the_same_where_they_project_in_another() -> None:
    scene = render_scene(count=4, size=(240, 320))
    first, last = scene.views[0], scene.views[-1]
    rng = np.random.default_rng(0)
    xy = rng.uniform([0, 0], [319, 239], (400, 2)).round()
    world = first.backproject(xy)
    seen = last.visible(world)
    assert seen.mean() > 0.5  # the views overlap
    projected, _ = last.project(world[seen])
    colour_first = first.image[xy[seen, 1].astype(int), xy[seen, 0].astype(int)].astype(float)
    colour_last = last.image[projected[:, 1].round().astype(int), projected[:, 0].round().astype(int)].astype(float)
    assert np.median(np.abs(colour_first - colour_last)) < 12
    shuffled = colour_last[rng.permutation(len(colour_last))]  # the check can fail: unrelated pixels differ
    assert np.median(np.abs(colour_first - shuffled)) > 25


def test_depth_map_matches_backprojection_and_spans_several_depths() -> None:
    view = render_scene(count=2, size=(240, 320)).views[0]
    xy = np.array([[10.0, 20.0], [160.0, 120.0], [300.0, 200.0]])
    world = view.backproject(xy)
    projected, z = view.project(world)
    np.testing.assert_allclose(projected, xy, atol=1e-6)
    np.testing.assert_allclose(z, view.depth[xy[:, 1].astype(int), xy[:, 0].astype(int)], rtol=1e-5)
    assert view.depth.max() / view.depth.min() > 2
    assert len(np.unique(np.round(view.depth, 0))) > 5
