"""Match pictures and colours, shared by the processor, the CLI, exports and the GUI (no torch, no Qt)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

Layout = Literal["side", "stacked"]
GAP_PX = 8


def score_colors(scores: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours from red (score 0) through yellow to green (score 1)."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0, 1)
    red = np.where(s < 0.5, 1.0, 2 * (1 - s))
    green = np.where(s < 0.5, 2 * s, 1.0)
    return (np.stack([red, green, np.zeros_like(s)], -1) * 255).astype(np.uint8)


def residual_colors(residuals: np.ndarray, threshold_px: float) -> np.ndarray:
    """Green at zero residual, yellow at the inlier threshold, red at twice it and beyond."""
    scale = np.nan_to_num(np.asarray(residuals, np.float64), nan=np.inf) / max(2 * threshold_px, 1e-9)
    return score_colors(1 - np.clip(scale, 0, 1))


INLIER_COLOR = (40, 220, 90)
OUTLIER_COLOR = (235, 50, 50)
# A/B comparison: matches of run B also in run A, only in B, and only in A.
SHARED_COLOR = (90, 160, 255)
GAINED_COLOR = (40, 220, 90)
LOST_COLOR = (235, 50, 50)


def second_image_offset(size0: tuple[int, int], layout: Layout) -> tuple[int, int]:
    """(dx, dy) of image 1 in the combined picture, given image 0's (height, width)."""
    return (size0[1] + GAP_PX, 0) if layout == "side" else (0, size0[0] + GAP_PX)


def draw_matches(
    rgb0: np.ndarray,
    rgb1: np.ndarray,
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    scores: np.ndarray,
    width: int = 1,
    colors: np.ndarray | None = None,
    layout: Layout = "side",
    opacity: float = 1.0,
) -> Image.Image:
    """Both images at full resolution with one line per match (coloured by score unless `colors` is given)."""
    dx, dy = second_image_offset(rgb0.shape[:2], layout)
    size = (max(rgb0.shape[1], dx + rgb1.shape[1]), max(rgb0.shape[0], dy + rgb1.shape[0]))
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(Image.fromarray(rgb0), (0, 0))
    canvas.paste(Image.fromarray(rgb1), (dx, dy))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    colors = score_colors(scores) if colors is None else np.asarray(colors, np.uint8)
    alpha = int(round(255 * min(max(opacity, 0.0), 1.0)))
    for (x0, y0), (x1, y1), colour in zip(kpts0, kpts1, colors):
        draw.line(
            [(float(x0) + 0.5, float(y0) + 0.5), (float(x1) + dx + 0.5, float(y1) + dy + 0.5)],
            fill=(int(colour[0]), int(colour[1]), int(colour[2]), alpha),
            width=width,
        )
    return Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")
