"""The track strip's pictures: decoded images kept for reuse (thread-safe, for the background loads), and a patch
around a keypoint with its marks."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage, QPixmap

from core.formats.images import load_image

PATCH_PX = 64  # side of a patch in the strip (image pixels, shown at twice that)
CACHED_IMAGES = 48
CONFLICT_COLOUR = (255, 40, 40)


class ImageCache:
    """Decoded images by path, the most recent CACHED_IMAGES; shared by the background loads (thread-safe)."""

    def __init__(self) -> None:
        self._images: OrderedDict[tuple[Path, bool], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, apply_exif: bool) -> np.ndarray:
        key = (path, apply_exif)
        with self._lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
        pixels = load_image(path, apply_exif=apply_exif).pixels
        with self._lock:
            self._images[key] = pixels
            while len(self._images) > CACHED_IMAGES:
                self._images.popitem(last=False)
        return pixels


def patch(pixels: np.ndarray, xy: np.ndarray, size: int = PATCH_PX) -> np.ndarray:
    """A size x size crop centred on the pixel nearest xy, black outside the image."""
    h, w = pixels.shape[:2]
    half = size // 2
    cx, cy = int(round(float(xy[0]))), int(round(float(xy[1])))
    out = np.zeros((size, size, 3), np.uint8)
    x0, y0 = cx - half, cy - half
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx0 < sx1 and sy0 < sy1:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[sy0:sy1, sx0:sx1, :3]
    return out


def to_pixmap(rgb: np.ndarray, scale: int = 2) -> QPixmap:
    rgb = np.ascontiguousarray(np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1))
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


def mark(rgb: np.ndarray, colour: tuple[int, int, int], frame: bool) -> np.ndarray:
    """A cross at the patch centre (the keypoint), and a frame when the keypoint is a conflict's odd one."""
    out = rgb.copy()
    c = out.shape[0] // 2
    out[c, c - 6 : c - 2] = out[c, c + 3 : c + 7] = colour
    out[c - 6 : c - 2, c] = out[c + 3 : c + 7, c] = colour
    if frame:
        out[:2], out[-2:], out[:, :2], out[:, -2:] = CONFLICT_COLOUR, CONFLICT_COLOUR, CONFLICT_COLOUR, CONFLICT_COLOUR
    return out
