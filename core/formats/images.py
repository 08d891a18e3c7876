"""Reading images the way users have them (EXIF, odd modes, bit depths, huge headers), and mapping points
between the upright frame the app shows and the stored frame COLMAP and hloc read."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from core.errors import UserError

# Refuse images above this many pixels before decoding them (a 30000 x 30000 header would need 2.7 GB as RGB).
MAX_IMAGE_PIXELS = 120_000_000
MIN_IMAGE_SIDE = 16


class ImageLoadError(UserError):
    """An image that cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True, eq=False)
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, EXIF orientation applied when asked
    path: Path | None
    exif_applied: bool
    note: str = ""  # e.g. "16-bit image reduced to 8 bits"
    orientation: int = 1  # the EXIF orientation (1-8) that was applied to the stored pixels; 1: none

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def pil_to_rgb8(img: Image.Image) -> tuple[np.ndarray, str]:
    mode = img.mode
    note = ""
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        data = np.asarray(img, dtype=np.float64)
        top = 65535.0 if data.max() > 255 or mode.startswith("I;16") else 255.0
        gray = np.clip(data / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2), "16-bit image reduced to 8 bits"
    if mode == "F":
        data = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        gray = np.zeros(data.shape, np.uint8) if hi <= lo else ((data - lo) / (hi - lo) * 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2), "floating-point image scaled to 8 bits"
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white rather than undefined colours.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
        note = "transparency flattened onto white"
    if img.mode in ("RGB;16", "RGBA;16") or mode.startswith("RGB;16"):
        note = "16-bit image reduced to 8 bits"
    rgb = img.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8).copy(), note


def _declared_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, read without decoding a pixel: PIL's decompression-bomb error
    names only a pixel count, and the user should see the image's size."""
    Image.init()
    with open(path, "rb") as handle:
        prefix = handle.read(16)
        for format_id in Image.ID:
            factory, accept = Image.OPEN[format_id]
            if accept is not None and accept(prefix) is not True:
                continue
            try:
                handle.seek(0)
                return tuple(factory(handle, str(path)).size)  # type: ignore[return-value]
            except Exception:  # not this format: try the next one, as Image.open does
                continue
    return None


def _too_large(name: str, width: int, height: int, max_pixels: int) -> ImageLoadError:
    return ImageLoadError(
        f"{name}: {width} x {height} pixels is more than this tool opens ({max_pixels / 1e6:.0f} megapixels)"
    )


def load_image(path: str | Path, apply_exif: bool = True, max_pixels: int = MAX_IMAGE_PIXELS) -> LoadedImage:
    """Decode an image file to RGB uint8. Every failure raises ImageLoadError with a one-line message.

    PIL's decompression-bomb guard stays on; sizes between its warning level and `max_pixels` are accepted.
    """
    path = Path(path)
    name = path.name or str(path)
    if not path.exists():
        raise ImageLoadError(f"{name}: file not found")
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: the file is empty")
        with warnings.catch_warnings():
            # The warning level of PIL's guard lies below our own limit, which is checked right after opening.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img_context = Image.open(path)
        with img_context as img:
            width, height = img.size
            if width * height > max_pixels:
                raise _too_large(name, width, height, max_pixels)
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)  # animations: the first frame
            img.load()
            orientation = int(img.getexif().get(ExifTags.Base.Orientation, 1)) if apply_exif else 1
            oriented = ImageOps.exif_transpose(img) if apply_exif else img
            pixels, note = pil_to_rgb8(oriented)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        declared = _declared_size(path)
        if declared is not None:
            raise _too_large(name, declared[0], declared[1], max_pixels) from exc
        raise ImageLoadError(f"{name}: the image is too large to open safely") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{name}: not an image format this tool can read") from exc
    except (OSError, SyntaxError, ValueError, MemoryError, EOFError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageLoadError(f"{name}: cannot decode the image ({detail})") from exc
    if min(pixels.shape[:2]) < MIN_IMAGE_SIDE:
        raise ImageLoadError(
            f"{name}: {pixels.shape[1]} x {pixels.shape[0]} pixels is too small to match "
            f"(at least {MIN_IMAGE_SIDE} pixels a side)"
        )
    return LoadedImage(pixels, path, apply_exif, note, orientation if orientation in range(1, 9) else 1)


def to_stored_frame(points: np.ndarray, orientation: int, upright_size: tuple[int, int]) -> np.ndarray:
    """Map (x, y) points (pixel centres at integers) from the EXIF-rotated image back to the file's stored pixels,
    the frame COLMAP and hloc read (they ignore EXIF orientation). `upright_size` is (height, width) as shown."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    u, v = points[:, 0], points[:, 1]
    height, width = upright_size
    # Stored size: orientations 5-8 swap the sides.
    w, h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    x, y = {
        1: (u, v),
        2: (w - 1 - u, v),  # mirrored left-right
        3: (w - 1 - u, h - 1 - v),  # rotated 180
        4: (u, h - 1 - v),  # mirrored top-bottom
        5: (v, u),  # transposed
        6: (v, h - 1 - u),  # shown rotated 90 degrees clockwise
        7: (w - 1 - v, h - 1 - u),  # transversed
        8: (w - 1 - v, u),  # shown rotated 90 degrees counter-clockwise
    }[orientation]
    return np.stack([x, y], axis=1)


def stored_size(orientation: int, upright_size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the file's stored pixels, given the shown (height, width) and the applied orientation."""
    height, width = upright_size
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """An in-memory array (H, W), (H, W, 1|3|4), uint8/uint16/float in [0, 1], as (H, W, 3) uint8."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or min(array.shape[:2]) < 1:
        raise ValueError(f"an image array must be (H, W) or (H, W, 1-4 channels), got shape {array.shape}")
    if array.shape[2] in (2, 4):
        array = array[..., :-1]  # drop alpha
    if array.dtype == np.uint8:
        out = array
    elif np.issubdtype(array.dtype, np.integer):
        top = 65535.0 if array.max(initial=0) > 255 else 255.0
        out = np.clip(array.astype(np.float64) / top * 255 + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating) or array.dtype == np.bool_:
        data = np.nan_to_num(array.astype(np.float64), nan=0.0)
        out = np.clip(data * 255 + 0.5, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unsupported image dtype {array.dtype}")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out)
