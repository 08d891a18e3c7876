"""Match pictures and score colours, shared by the processor, the CLI and exports (no torch, no Qt)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def score_colors(scores: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours from red (score 0) through yellow to green (score 1)."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0, 1)
    red = np.where(s < 0.5, 1.0, 2 * (1 - s))
    green = np.where(s < 0.5, 2 * s, 1.0)
    return (np.stack([red, green, np.zeros_like(s)], -1) * 255).astype(np.uint8)


def draw_matches(
    rgb0: np.ndarray, rgb1: np.ndarray, kpts0: np.ndarray, kpts1: np.ndarray, scores: np.ndarray, width: int = 1
) -> Image.Image:
    h = max(rgb0.shape[0], rgb1.shape[0])
    canvas = Image.new("RGB", (rgb0.shape[1] + rgb1.shape[1], h), (0, 0, 0))
    canvas.paste(Image.fromarray(rgb0), (0, 0))
    canvas.paste(Image.fromarray(rgb1), (rgb0.shape[1], 0))
    draw = ImageDraw.Draw(canvas)
    offset = rgb0.shape[1]
    for (x0, y0), (x1, y1), colour in zip(kpts0, kpts1, score_colors(scores)):
        draw.line([(float(x0), float(y0)), (float(x1) + offset, float(y1))], fill=tuple(int(c) for c in colour),
                  width=width)
    return canvas
