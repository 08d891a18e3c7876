"""Match density as a perceptual colour map (viridis: dark blue to yellow, never the outlier red)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

COLORMAP = "viridis"
CELLS_ACROSS = 96  # cells along the long side of an image


@dataclass(frozen=True)
class DensityScale:
    cell_px: int
    top: float  # matches per cell at the top of the scale


def ambiguity_lookup_table() -> np.ndarray:
    """(256, 3) uint8 colours of the ambiguity map (inferno), distinct from the density map's viridis."""
    return np.asarray(pg.colormap.get("inferno").getLookupTable(nPts=256, alpha=False), np.uint8)


def lookup_table() -> np.ndarray:
    """(256, 3) uint8 colours of the heat map, shared by the image and its scale bar."""
    return np.asarray(pg.colormap.get(COLORMAP).getLookupTable(nPts=256, alpha=False), np.uint8)


def density_rgba(points: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, DensityScale]:
    """An RGBA image (one pixel per cell) of matches per cell, transparent where there are none."""
    import cv2

    h, w = size
    cell = max(4, max(h, w) // CELLS_ACROSS)
    density, _, _ = np.histogram2d(
        points[:, 1], points[:, 0], bins=(max(1, h // cell), max(1, w // cell)), range=((0, h), (0, w))
    )
    density = cv2.GaussianBlur(density.astype(np.float32), (0, 0), 1.0)
    top = float(density.max()) or 1.0
    level = density / top
    rgba = np.zeros(level.shape + (4,), np.uint8)
    rgba[..., :3] = lookup_table()[(level * 255).astype(np.uint8)]
    rgba[..., 3] = np.where(level > 0.01, 90 + (level * 130), 0).astype(np.uint8)
    return rgba, DensityScale(cell, top)
