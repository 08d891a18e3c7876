"""A multi-view scene with real depth and known poses, rendered by ray casting: for SfM and track tests.

Photo-textured rectangles stand at several depths in front of a textured back wall, so neighbouring views see
parallax and occlusion (never two views of one plane). Cameras on an arc look at the scene centre. Every pixel's
3D point is known exactly: `RenderedView.backproject` casts the same ray the renderer cast.

Conventions: world and camera frames as COLMAP's (x right, y down, z forward; cam_from_world = (R, t)); image
coordinates in this project's convention, pixel centres at integer (x, y), so K's principal point for a centred
camera is ((W - 1) / 2, (H - 1) / 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.analysis.synthetic import textured_scene

PHOTO = Path(__file__).resolve().parent.parent / "resources" / "photo_dscovr_launch.jpg"  # public domain
LOOK_AT = np.array([0.0, 0.0, 10.0])


@dataclass(frozen=True, eq=False)
class TexturedRectangle:
    centre: np.ndarray  # (3,) world point
    axis_u: np.ndarray  # (3,) unit vector along the texture's x
    axis_v: np.ndarray  # (3,) unit vector along the texture's y (down)
    width: float
    height: float
    texture: np.ndarray  # (h, w, 3) uint8

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.axis_u, self.axis_v)

    def hit(self, origin: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ray parameter (inf where missed) and the (s, r) position on the rectangle in [0, 1] for each ray."""
        normal = self.normal
        facing = directions @ normal
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = ((self.centre - origin) @ normal) / facing
        points = origin + distance[:, None] * directions
        s = (points - self.centre) @ self.axis_u / self.width + 0.5
        r = (points - self.centre) @ self.axis_v / self.height + 0.5
        inside = (np.abs(facing) > 1e-9) & (distance > 0) & (s >= 0) & (s <= 1) & (r >= 0) & (r <= 1)
        return np.where(inside, distance, np.inf), s, r

    def sample(self, s: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Bilinear texture lookup at rectangle positions (s, r) in [0, 1]."""
        h, w = self.texture.shape[:2]
        x, y = np.clip(s, 0, 1) * (w - 1), np.clip(r, 0, 1) * (h - 1)
        x0, y0 = np.minimum(x.astype(int), w - 2), np.minimum(y.astype(int), h - 2)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        t = self.texture.astype(np.float32)
        top = t[y0, x0] * (1 - fx) + t[y0, x0 + 1] * fx
        bottom = t[y0 + 1, x0] * (1 - fx) + t[y0 + 1, x0 + 1] * fx
        return top * (1 - fy) + bottom * fy


def _rotation(yaw_degrees: float, pitch_degrees: float = 0.0) -> np.ndarray:
    """A rectangle's (axis_u, axis_v) turned about y (yaw) then x (pitch)."""
    a, b = np.radians(yaw_degrees), np.radians(pitch_degrees)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return yaw @ pitch


def _photo_crops() -> list[np.ndarray]:
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    h, w = photo.shape[:2]
    crops = [
        photo[: h // 2 + 40, : w // 2 + 60],
        photo[h // 3 :, w // 2 - 40 :],
        photo[20 : h - 20, w // 4 : 3 * w // 4][:, ::-1],  # mirrored, so no two planes show the same picture
        photo[: 2 * h // 3, w // 3 :][::-1],
    ]
    return [np.ascontiguousarray(c) for c in crops]


def scene_rectangles(seed: int = 0) -> list[TexturedRectangle]:
    """Four photo planes at depths 6-11 and a synthetic-textured back wall at depth 16."""
    crops = _photo_crops()
    layout = [  # centre, yaw, pitch, width
        ((-1.8, -0.9, 6.0), 20.0, 5.0, 2.6),
        ((1.6, 0.8, 7.5), -25.0, -8.0, 3.2),
        ((-0.4, 1.2, 9.5), 10.0, 15.0, 3.6),
        ((1.0, -1.4, 11.0), -5.0, -10.0, 4.0),
    ]
    rectangles = []
    for (centre, yaw, pitch, width), texture in zip(layout, crops):
        rotation = _rotation(yaw, pitch)
        height = width * texture.shape[0] / texture.shape[1]
        rectangles.append(TexturedRectangle(np.array(centre), rotation[:, 0], rotation[:, 1], width, height, texture))
    wall = textured_scene(900, 1400, seed)
    rectangles.append(
        TexturedRectangle(np.array([0.0, 0.0, 16.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 28.0, 18.0, wall)
    )
    return rectangles


@dataclass(frozen=True, eq=False)
class RenderedView:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32: camera z of each pixel centre's 3D point
    K: np.ndarray  # (3, 3)
    R: np.ndarray  # (3, 3) cam_from_world rotation
    t: np.ndarray  # (3,) cam_from_world translation
    rectangles: tuple[TexturedRectangle, ...]

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    def rays(self, xy: np.ndarray) -> np.ndarray:
        """World directions through image points, scaled so each has camera z = 1."""
        pixels = np.column_stack([xy, np.ones(len(xy))])
        return (np.linalg.inv(self.K) @ pixels.T).T @ self.R  # R.T @ d for every row d

    def cast(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Camera z of the nearest surface through each image point, and which rectangle it is (-1: none)."""
        directions = self.rays(np.asarray(xy, np.float64))
        distances = np.stack([r.hit(self.centre, directions)[0] for r in self.rectangles])
        nearest = np.argmin(distances, axis=0)
        depth = distances[nearest, np.arange(len(directions))]
        return depth, np.where(np.isfinite(depth), nearest, -1)

    def backproject(self, xy: np.ndarray) -> np.ndarray:
        """(N, 3) world points seen at image points xy (NaN where the ray hits nothing)."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        depth, _ = self.cast(xy)
        depth = np.where(np.isfinite(depth), depth, np.nan)
        return self.centre + depth[:, None] * self.rays(xy)

    def project(self, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image points (N, 2) and camera z (N,) of world points."""
        camera = np.asarray(world, np.float64) @ self.R.T + self.t
        pixels = camera @ self.K.T
        return pixels[:, :2] / pixels[:, 2:], camera[:, 2]

    def visible(self, world: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
        """Whether each world point is in the image and not hidden behind another surface."""
        xy, z = self.project(world)
        h, w = self.depth.shape
        inside = (z > 0) & (xy[:, 0] >= 0) & (xy[:, 0] <= w - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= h - 1)
        seen, _ = self.cast(np.where(inside[:, None], xy, 0.0))
        return inside & (np.abs(seen - z) <= tolerance * np.maximum(z, 1.0))


@dataclass(frozen=True, eq=False)
class RenderedScene:
    views: tuple[RenderedView, ...]

    def write(self, folder: Path) -> list[Path]:
        """One PNG per view (view_00.png, ...) in `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, view in enumerate(self.views):
            path = folder / f"view_{index:02d}.png"
            Image.fromarray(view.image).save(path)
            paths.append(path)
        return paths


def look_at(centre: np.ndarray, target: np.ndarray = LOOK_AT) -> tuple[np.ndarray, np.ndarray]:
    """cam_from_world (R, t) of a camera at `centre` looking at `target`, y down."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(np.array([0.0, 1.0, 0.0]), forward)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return rotation, -rotation @ centre


def render_view(
    rectangles: list[TexturedRectangle],
    intrinsics: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    size: tuple[int, int],
) -> RenderedView:
    h, w = size
    blank = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32)
    view = RenderedView(*blank, intrinsics, rotation, translation, tuple(rectangles))
    ys, xs = np.mgrid[0:h, 0:w]
    xy = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64)
    directions = view.rays(xy)
    depth, which = view.cast(xy)
    colours = np.zeros((len(xy), 3), np.float32)
    for index, rectangle in enumerate(rectangles):
        rows = np.flatnonzero(which == index)
        _, s, r = rectangle.hit(view.centre, directions[rows])
        colours[rows] = rectangle.sample(s, r)
    image = np.clip(colours, 0, 255).astype(np.uint8).reshape(h, w, 3)
    depth_map = depth.astype(np.float32).reshape(h, w)
    return RenderedView(image, depth_map, intrinsics, rotation, translation, tuple(rectangles))


def render_scene(count: int = 10, size: tuple[int, int] = (480, 640), seed: int = 0) -> RenderedScene:
    """`count` views from an arc of camera centres 3.6 units wide (about 20 degrees seen from the scene centre)."""
    h, w = size
    focal = 0.9 * w
    intrinsics = np.array([[focal, 0, (w - 1) / 2], [0, focal, (h - 1) / 2], [0, 0, 1]])
    rectangles = scene_rectangles(seed)
    views = []
    for i in range(count):
        fraction = i / max(count - 1, 1) - 0.5
        centre = np.array([3.6 * fraction, 0.4 * np.sin(np.pi * fraction), 0.8 * abs(fraction)])
        views.append(render_view(rectangles, intrinsics, *look_at(centre), size))
    return RenderedScene(tuple(views))
