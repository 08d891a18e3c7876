"""Pinhole camera intrinsics for relative pose: from a COLMAP camera, from EXIF, or typed in.

Coordinates follow the project's convention (pixel centres at integers, x then y, in the frame the image file
stores). COLMAP puts the origin at the top-left corner of the first pixel, so its principal point is 0.5 px larger
than ours. Lens distortion is not modelled: cameras with distortion parameters keep their pinhole part and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# COLMAP camera model id -> (name, parameter layout of its pinhole part): "f" = f, cx, cy; "fxfy" = fx, fy, cx, cy.
COLMAP_MODELS: dict[int, tuple[str, str, int]] = {  # id: (name, layout, number of parameters)
    0: ("SIMPLE_PINHOLE", "f", 3),
    1: ("PINHOLE", "fxfy", 4),
    2: ("SIMPLE_RADIAL", "f", 4),
    3: ("RADIAL", "f", 5),
    4: ("OPENCV", "fxfy", 8),
    5: ("OPENCV_FISHEYE", "fxfy", 8),
    6: ("FULL_OPENCV", "fxfy", 12),
    7: ("FOV", "fxfy", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", "f", 4),
    9: ("RADIAL_FISHEYE", "f", 5),
    10: ("THIN_PRISM_FISHEYE", "fxfy", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", "fxfy", 16),
    12: ("SIMPLE_DIVISION", "f", 4),
    13: ("DIVISION", "fxfy", 5),
}
FULL_FRAME_WIDTH_MM = 36.0  # the width a 35 mm-equivalent focal length refers to
_MM_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # EXIF FocalPlaneResolutionUnit: inch, cm, mm, um


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    source: str  # where the numbers come from, in words ("COLMAP camera 3 (SIMPLE_RADIAL)", "EXIF", "typed in")
    note: str = ""  # e.g. "distortion ignored"

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def mean_focal(self) -> float:
        return (self.fx + self.fy) / 2

    def normalize(self, points: np.ndarray) -> np.ndarray:
        """Pixel (x, y) -> normalized image coordinates (x', y') with z = 1."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        return np.column_stack([(points[:, 0] - self.cx) / self.fx, (points[:, 1] - self.cy) / self.fy])

    @classmethod
    def from_focal(cls, focal_px: float, size: tuple[int, int], source: str = "typed in") -> Intrinsics:
        """A focal length in pixels with the principal point at the image centre; size = (height, width)."""
        if not np.isfinite(focal_px) or focal_px <= 0:
            raise ValueError(f"the focal length must be a positive number of pixels, got {focal_px}")
        h, w = size
        return cls(float(focal_px), float(focal_px), (w - 1) / 2, (h - 1) / 2, source)


def from_colmap_camera(camera_id: int, model: int, params: np.ndarray) -> Intrinsics:
    """The pinhole part of a COLMAP camera; raises ValueError for a model without one (e.g. equirectangular)."""
    if model not in COLMAP_MODELS:
        raise ValueError(f"COLMAP camera {camera_id}: camera model {model} has no pinhole focal length")
    name, layout, count = COLMAP_MODELS[model]
    params = np.asarray(params, np.float64).ravel()
    if len(params) < count:
        raise ValueError(f"COLMAP camera {camera_id} ({name}): {len(params)} parameters, expected {count}")
    if layout == "f":
        fx = fy = params[0]
        cx, cy = params[1], params[2]
        distortion = params[3:count]
    else:
        fx, fy, cx, cy = params[:4]
        distortion = params[4:count]
    note = "distortion ignored" if np.any(distortion != 0) else ""
    return Intrinsics(
        float(fx), float(fy), float(cx) - 0.5, float(cy) - 0.5, f"COLMAP camera {camera_id} ({name})", note
    )


def from_exif(path: str | Path) -> Intrinsics | None:
    """Focal length from EXIF in the frame the file stores, or None when EXIF does not give one.

    Uses the focal length in mm with the focal-plane resolution (the sensor's pixels per unit, scaled to the stored
    image when EXIF names another resolution), else the 35 mm-equivalent focal length over a 36 mm wide frame.
    """
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        exif = image.getexif().get_ifd(0x8769)  # the Exif sub-IFD holds the camera tags
    focal_mm = _positive(exif.get(0x920A))  # FocalLength
    x_resolution = _positive(exif.get(0xA20E))  # FocalPlaneXResolution, pixels per unit
    unit_mm = _MM_PER_UNIT.get(int(exif.get(0xA210, 2)))  # FocalPlaneResolutionUnit, default inches
    if focal_mm and x_resolution and unit_mm:
        exif_width = _positive(exif.get(0xA002)) or width  # PixelXDimension: the width the resolution refers to
        focal_px = focal_mm * x_resolution / unit_mm * width / exif_width
        return Intrinsics.from_focal(focal_px, (height, width), "EXIF focal length and sensor width")
    focal_35 = _positive(exif.get(0xA405))  # FocalLengthIn35mmFilm
    if focal_35:
        focal_px = focal_35 / FULL_FRAME_WIDTH_MM * max(width, height)
        return Intrinsics.from_focal(focal_px, (height, width), "EXIF 35 mm-equivalent focal length")
    return None


def _positive(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if np.isfinite(number) and number > 0 else None
