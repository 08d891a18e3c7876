"""Synthetic scenes with known geometry: for tests, benchmarks and the bundled sample pair.

A scene is a textured image (smooth noise, shapes, lines: corners and edges at many scales); a second view is that
scene under a known homography, with a little photometric change, so every correspondence is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


@dataclass(frozen=True, eq=False)
class SyntheticPair:
    image0: np.ndarray  # (H0, W0, 3) uint8
    image1: np.ndarray  # (H1, W1, 3) uint8
    homography: np.ndarray  # (3, 3): x1 ~ H @ x0, pixel-centre coordinates


def textured_scene(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width), np.float64)
    for cell in (64, 16, 4):  # smooth multi-scale noise
        small = rng.random((height // cell + 2, width // cell + 2))
        layer = Image.fromarray((small * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
        base += np.asarray(layer, np.float64) / 255.0 * (cell / 84)
    image = Image.fromarray(np.clip(base / base.max() * 200, 0, 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(image)
    area = height * width
    for _ in range(max(20, area // 3000)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(6, max(8, width // 6))), int(rng.integers(6, max(8, height // 6)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.rectangle([x, y, x + w, y + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x, y, x + w, y + h], outline=colour, width=int(rng.integers(1, 5)))
        else:
            end_y = y + h * (1 if rng.random() < 0.5 else -1)
            draw.line([x, y, x + w, end_y], fill=colour, width=int(rng.integers(1, 4)))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(0.7)), np.uint8).copy()


def random_homography(height: int, width: int, seed: int, strength: float = 0.08) -> np.ndarray:
    """A moderate viewpoint change: corners moved by up to `strength` of the image size."""
    import cv2

    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    moved = corners + rng.uniform(-strength, strength, (4, 2)).astype(np.float32) * [width, height]
    return cv2.getPerspectiveTransform(corners, moved.astype(np.float32)).astype(np.float64)


def warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Image seen under `homography`; size = (height, width) of the output (default: same as input)."""
    import cv2

    h, w = size or image.shape[:2]
    return cv2.warpPerspective(image, homography, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def homography_pair(height: int = 480, width: int = 640, seed: int = 0, strength: float = 0.08) -> SyntheticPair:
    scene = textured_scene(height, width, seed)
    homography = random_homography(height, width, seed + 1000, strength)
    view = warp(scene, homography).astype(np.float64)
    view = np.clip(view * 0.9 + 12, 0, 255).astype(np.uint8)  # mild exposure change
    return SyntheticPair(scene, view, homography)


def project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a homography to (N, 2) points."""
    pts = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ homography.T
    return pts[:, :2] / pts[:, 2:3]
