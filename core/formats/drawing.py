"""Match pictures and line colours, shared by the window, the PNG export, `match --viz` and the processor.

One colour logic (`line_colors`) serves the screen and every picture: gradients are quantised to GRADIENT_LEVELS
steps in both, so an exported PNG shows exactly the colours seen on screen. No torch, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Layout = Literal["side", "stacked"]
LayoutChoice = Literal["auto", "side", "stacked"]
ColorMode = Literal["confidence", "inlier", "residual", "compare", "stored", "pose", "model"]
Color = tuple[int, int, int]
GAP_PX = 8
GRADIENT_LEVELS = 32
REFERENCE_LONG_SIDE_PX = 1600  # a picture this long draws lines as wide as the screen does at 1x zoom

INLIER_COLOR: Color = (40, 220, 90)
OUTLIER_COLOR: Color = (235, 50, 50)
NEUTRAL_COLOR: Color = (150, 150, 150)  # a mode with nothing current to colour by
# A/B comparison: matches of run B also in run A, only in B, and only in A.
SHARED_COLOR: Color = (90, 160, 255)
GAINED_COLOR: Color = (40, 220, 90)
LOST_COLOR: Color = (235, 50, 50)
SELECTION_COLOR: Color = (0, 230, 255)
EPIPOLAR_COLOR: Color = (255, 80, 255)


def score_colors(scores: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours from red (0) through yellow to green (1)."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0, 1)
    red = np.where(s < 0.5, 1.0, 2 * (1 - s))
    green = np.where(s < 0.5, 2 * s, 1.0)
    return (np.stack([red, green, np.zeros_like(s)], -1) * 255).astype(np.uint8)


@dataclass(frozen=True)
class LegendSpec:
    """What a legend shows: a gradient with labels at its ends and middle, or colour swatches."""

    title: str
    kind: Literal["gradient", "swatches"]
    colors: tuple[Color, ...]  # gradient stops (evenly spaced) or one colour per swatch
    labels: tuple[str, ...]  # three for a gradient (low, middle, high), one per swatch


@dataclass(frozen=True, eq=False)
class LineColors:
    palette: np.ndarray  # (K, 3) uint8
    index: np.ndarray  # (N,) int16 into palette, one per match of the result
    legend: LegendSpec

    def rgb(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.palette[self.index[rows]]


def _levels(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to GRADIENT_LEVELS steps."""
    return np.minimum((np.clip(values, 0, 1) * GRADIENT_LEVELS).astype(np.int16), GRADIENT_LEVELS - 1)


def _gradient_palette() -> np.ndarray:
    return score_colors((np.arange(GRADIENT_LEVELS) + 0.5) / GRADIENT_LEVELS)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_colors(
    mode: ColorMode,
    scores: np.ndarray,
    score_range: tuple[float, float] = (0.0, 1.0),
    inliers: np.ndarray | None = None,
    residuals: np.ndarray | None = None,
    threshold_px: float = 3.0,
    shared: np.ndarray | None = None,
    stored_inliers: np.ndarray | None = None,
    triangulated: np.ndarray | None = None,
) -> LineColors:
    """The colour of every match line for a colour mode; arrays cover all N matches of the result.

    A mode whose data is missing (no geometric model, no run A) is drawn in one neutral grey, and its legend says so.
    """
    n = len(scores)
    if mode == "inlier" and inliers is not None:
        legend = LegendSpec("geometry", "swatches", (INLIER_COLOR, OUTLIER_COLOR), ("inlier", "outlier"))
        return LineColors(np.array([INLIER_COLOR, OUTLIER_COLOR], np.uint8), (~inliers).astype(np.int16), legend)
    if mode == "stored" and stored_inliers is not None:
        legend = LegendSpec("stored verification", "swatches", (INLIER_COLOR, OUTLIER_COLOR), ("inlier", "outlier"))
        return LineColors(np.array([INLIER_COLOR, OUTLIER_COLOR], np.uint8), (~stored_inliers).astype(np.int16), legend)
    if mode == "model" and triangulated is not None:
        legend = LegendSpec(
            "COLMAP model (tracks)", "swatches", (INLIER_COLOR, NEUTRAL_COLOR), ("one 3D point", "not triangulated")
        )
        return LineColors(np.array([INLIER_COLOR, NEUTRAL_COLOR], np.uint8), (~triangulated).astype(np.int16), legend)
    if mode in ("residual", "pose") and residuals is not None:
        scale = np.nan_to_num(np.asarray(residuals, np.float64), nan=np.inf) / max(2 * threshold_px, 1e-9)
        legend = LegendSpec(
            "residual" if mode == "residual" else "Sampson error under E (relative pose)",
            "gradient",
            ((0, 255, 0), (255, 255, 0), (255, 0, 0)),
            ("0 px", f"{threshold_px:g} px", f"≥{2 * threshold_px:g} px"),
        )
        return LineColors(_gradient_palette()[::-1].copy(), _levels(scale), legend)
    if mode == "compare" and shared is not None:
        legend = LegendSpec(
            "A/B (gained: only in B, lost: only in A)",
            "swatches",
            (SHARED_COLOR, GAINED_COLOR, LOST_COLOR),
            ("shared", "gained", "lost"),
        )
        return LineColors(np.array([SHARED_COLOR, GAINED_COLOR], np.uint8), (~shared).astype(np.int16), legend)
    if mode != "confidence":
        missing = {
            "inlier": "no geometric model",
            "residual": "no geometric model",
            "compare": "no run A",
            "stored": "no stored verification",
            "pose": "no relative pose (intrinsics needed)",
            "model": "no COLMAP model beside the run (or its tracks not built yet)",
        }[mode]
        legend = LegendSpec(missing, "swatches", (NEUTRAL_COLOR,), (missing,))
        return LineColors(np.array([NEUTRAL_COLOR], np.uint8), np.zeros(n, np.int16), legend)
    low, high = score_range
    span = max(high - low, 1e-12)
    legend = LegendSpec(
        "score",
        "gradient",
        ((255, 0, 0), (255, 255, 0), (0, 255, 0)),
        (_fmt(low), _fmt((low + high) / 2), _fmt(high)),
    )
    return LineColors(_gradient_palette(), _levels((np.asarray(scores, np.float64) - low) / span), legend)


def score_range(scores: np.ndarray) -> tuple[float, float]:
    """(0, 1) for probabilities; the scores' own range otherwise (the `opt` variant returns similarity logits)."""
    if len(scores) == 0:
        return 0.0, 1.0
    low, high = float(scores.min()), float(scores.max())
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    return float(np.floor(min(low, 0.0))), float(np.ceil(high))


def second_image_offset(size0: tuple[int, int], layout: Layout, gap: int = GAP_PX) -> tuple[int, int]:
    """(dx, dy) of image 1 in the combined picture, given image 0's (height, width)."""
    return (size0[1] + gap, 0) if layout == "side" else (0, size0[0] + gap)


def combined_size(size0: tuple[int, int], size1: tuple[int, int], layout: Layout) -> tuple[int, int]:
    """(height, width) of both images laid out together."""
    dx, dy = second_image_offset(size0, layout)
    return max(size0[0], dy + size1[0]), max(size0[1], dx + size1[1])


def choose_layout(size0: tuple[int, int], size1: tuple[int, int], canvas: tuple[int, int]) -> Layout:
    """The layout that shows the pair largest on a canvas of (height, width)."""

    def scale(layout: Layout) -> float:
        h, w = combined_size(size0, size1, layout)
        return min(canvas[0] / h, canvas[1] / w)

    return "side" if scale("side") >= scale("stacked") else "stacked"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


# Signs the on-screen labels use that Pillow's bundled font has no glyph for (it would draw an empty box).
ASCII_FOR_MISSING_GLYPHS = str.maketrans({"≥": ">=", "≤": "<="})


def wrap_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """Lines no wider than `width` pixels, broken between words (a word wider than the line gets its own line)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _legend_band(width: int, caption: str | None, legend: LegendSpec | None) -> Image.Image | None:
    """A dark band with the caption on top (wrapped to the picture's width) and the colour legend below it."""
    if caption is None and legend is None:
        return None
    size = max(14, width // 90)
    font = _font(size)
    pad = size // 2
    caption_lines = wrap_text(caption.translate(ASCII_FOR_MISSING_GLYPHS), font, width - 2 * pad) if caption else []
    height = pad + len(caption_lines) * (size + pad) + (2 * size + 2 * pad if legend else 0)
    band = Image.new("RGB", (width, height), (24, 24, 26))
    draw = ImageDraw.Draw(band)
    y = pad
    for line in caption_lines:
        draw.text((pad, y), line, fill=(235, 235, 235), font=font)
        y += size + pad
    if legend is not None:
        draw.text((pad, y), legend.title, fill=(200, 200, 200), font=font)
        x = pad + int(draw.textlength(legend.title, font=font)) + 2 * pad
        if legend.kind == "gradient":
            bar_w = min(width - x - pad, 30 * size)
            stops = np.array(legend.colors, np.float64)
            positions = np.linspace(0, 1, len(stops))
            for i in range(max(bar_w, 1)):
                t = i / max(bar_w - 1, 1)
                shade = tuple(int(np.interp(t, positions, stops[:, c])) for c in range(3))
                draw.line([(x + i, y), (x + i, y + size)], fill=shade)
            for label, anchor, at in zip(legend.labels, ("la", "ma", "ra"), (x, x + bar_w // 2, x + bar_w)):
                draw.text((at, y + size + 2), label, fill=(220, 220, 220), font=font, anchor=anchor)
        else:
            for colour, label in zip(legend.colors, legend.labels):
                draw.rectangle([x, y, x + 2 * size, y + size], fill=colour)
                draw.text((x + 2 * size + pad, y), label, fill=(220, 220, 220), font=font)
                x += 3 * size + pad + int(draw.textlength(label, font=font)) + 2 * pad
    return band


def draw_matches(
    rgb0: np.ndarray,
    rgb1: np.ndarray,
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    scores: np.ndarray,
    width: float = 1.0,
    colors: np.ndarray | None = None,
    layout: Layout = "side",
    opacity: float = 1.0,
    gap: int = GAP_PX,
    selection: tuple[np.ndarray, np.ndarray] | None = None,
    epipolar: tuple[tuple[float, float], tuple[float, float]] | None = None,
    caption: str | None = None,
    legend: LegendSpec | None = None,
) -> Image.Image:
    """Both images at full resolution with one line per match (coloured by score unless `colors` is given).

    `width` is the on-screen line width: it is scaled with the picture so that lines stay as visible at full
    resolution as on screen. `selection` (two points) is highlighted, `epipolar` is a segment in image 1's pixels;
    `caption` and `legend` go in a band under the picture.
    """
    dx, dy = second_image_offset(rgb0.shape[:2], layout, gap)
    size = (max(rgb0.shape[1], dx + rgb1.shape[1]), max(rgb0.shape[0], dy + rgb1.shape[0]))
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(Image.fromarray(rgb0), (0, 0))
    canvas.paste(Image.fromarray(rgb1), (dx, dy))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    colors = score_colors(scores) if colors is None else np.asarray(colors, np.uint8)
    alpha = int(round(255 * min(max(opacity, 0.0), 1.0)))
    stroke = max(1, int(round(width * max(size) / REFERENCE_LONG_SIDE_PX)))
    for (x0, y0), (x1, y1), colour in zip(kpts0, kpts1, colors):
        draw.line(
            [(float(x0) + 0.5, float(y0) + 0.5), (float(x1) + dx + 0.5, float(y1) + dy + 0.5)],
            fill=(int(colour[0]), int(colour[1]), int(colour[2]), alpha),
            width=stroke,
        )
    picture = Image.alpha_composite(canvas.convert("RGBA"), layer)
    marks = ImageDraw.Draw(picture)
    if epipolar is not None:
        (ex0, ey0), (ex1, ey1) = epipolar
        marks.line(
            [(ex0 + dx + 0.5, ey0 + dy + 0.5), (ex1 + dx + 0.5, ey1 + dy + 0.5)], fill=EPIPOLAR_COLOR, width=stroke
        )
    if selection is not None:
        (sx0, sy0), (sx1, sy1) = selection
        ends = [(float(sx0) + 0.5, float(sy0) + 0.5), (float(sx1) + dx + 0.5, float(sy1) + dy + 0.5)]
        marks.line(ends, fill=SELECTION_COLOR, width=2 * stroke + 1)
        radius = 6 * stroke
        for x, y in ends:
            marks.ellipse([x - radius, y - radius, x + radius, y + radius], outline=SELECTION_COLOR, width=stroke + 1)
    picture_rgb = picture.convert("RGB")
    band = _legend_band(picture_rgb.width, caption, legend)
    if band is None:
        return picture_rgb
    framed = Image.new("RGB", (picture_rgb.width, picture_rgb.height + band.height), (24, 24, 26))
    framed.paste(picture_rgb, (0, 0))
    framed.paste(band, (0, picture_rgb.height))
    return framed


def caption(
    names: tuple[str, str],
    matcher: str,
    threshold: float,
    visible: int,
    total: int,
    drawn: int | None = None,
    geometry: str | None = None,
) -> str:
    """One line under a picture: the pair, the matcher, the threshold, the counts and the geometric check."""
    parts = [f"{names[0]} vs {names[1]}", matcher, f"threshold {threshold:.3g}", f"{visible:,} of {total:,} matches"]
    if drawn is not None and drawn < visible:
        parts.append(f"{drawn:,} lines drawn")
    if geometry:
        parts.append(geometry)
    return " · ".join(parts)
