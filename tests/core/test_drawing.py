import numpy as np
from PIL import Image

from core.formats.drawing import (
    GRADIENT_LEVELS,
    INLIER_COLOR,
    NEUTRAL_COLOR,
    OUTLIER_COLOR,
    caption,
    choose_layout,
    draw_matches,
    line_colors,
)


def test_confidence_colours_are_quantised_over_the_score_range():
    scores = np.array([0.0, 0.5, 1.0])
    colors = line_colors("confidence", scores)
    assert len(colors.palette) == GRADIENT_LEVELS
    assert tuple(colors.rgb(0))[0] > 200 and tuple(colors.rgb(2))[1] > 200  # red low, green high
    logits = line_colors("confidence", np.array([17.0, 80.0]), score_range=(0.0, 80.0))
    assert logits.index[1] == GRADIENT_LEVELS - 1 and logits.legend.labels[-1] == "80"


def test_modes_without_their_data_are_neutral_and_say_why():
    colors = line_colors("inlier", np.zeros(4))
    assert tuple(colors.palette[0]) == NEUTRAL_COLOR and colors.legend.labels == ("no geometric model",)
    inliers = np.array([True, False, True])
    colors = line_colors("inlier", np.zeros(3), inliers=inliers)
    assert [tuple(c) for c in colors.rgb()] == [INLIER_COLOR, OUTLIER_COLOR, INLIER_COLOR]


def test_layout_choice_follows_the_canvas():
    landscape = (768, 1024)
    assert choose_layout(landscape, landscape, (1000, 2400)) == "side"
    assert choose_layout(landscape, landscape, (1000, 1000)) == "stacked"


def test_picture_draws_lines_selection_and_a_legend_band():
    rgb = np.full((100, 120, 3), 40, np.uint8)
    k0 = np.array([[10.0, 50.0]])
    k1 = np.array([[100.0, 50.0]])
    colors = line_colors("inlier", np.zeros(1), inliers=np.array([True]))
    picture = draw_matches(rgb, rgb, k0, k1, np.zeros(1), colors=colors.rgb(), width=1.0, gap=0)
    pixels = np.asarray(picture)
    assert picture.size == (240, 100)
    assert tuple(pixels[50, 60]) == INLIER_COLOR
    framed = draw_matches(
        rgb,
        rgb,
        k0,
        k1,
        np.zeros(1),
        colors=colors.rgb(),
        caption=caption(("a", "b"), "eloftr", 0.2, 1, 1),
        legend=colors.legend,
        selection=(k0[0], k1[0]),
    )
    assert isinstance(framed, Image.Image) and framed.size[1] > 100
    assert np.asarray(framed)[100:].max() > 150, "caption and legend are drawn in the band"


def test_caption_signs_the_bundled_font_lacks_are_drawn_in_ascii():
    """'needs ≥8 inliers' on screen; Pillow's bundled font has no ≥ and would draw a box: the PNG says '>='."""
    rgb = np.full((60, 400, 3), 40, np.uint8)
    none = np.zeros((0, 2))

    def band(text: str) -> np.ndarray:
        picture = draw_matches(rgb, rgb, none, none, np.zeros(0), colors=np.zeros((0, 3)), caption=text)
        return np.asarray(picture)[60:]

    assert np.array_equal(band("H unreliable: needs ≥8 inliers"), band("H unreliable: needs >=8 inliers"))
    assert not np.array_equal(band("needs ≥8"), band("needs =8")), "the band shows the caption's text"
