"""Reading images the way users have them (EXIF, odd modes, bit depths, huge headers) and writing files atomically."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse images above this many pixels before decoding them (a 30000 x 30000 header would need 2.7 GB as RGB).
MAX_IMAGE_PIXELS = 120_000_000
MIN_IMAGE_SIDE = 16


class ImageLoadError(ValueError):
    """An image that cannot be used; the message is one line meant for the user."""


@dataclass(frozen=True, eq=False)
class LoadedImage:
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, EXIF orientation applied when asked
    path: Path | None
    exif_applied: bool
    note: str = ""  # e.g. "16-bit image reduced to 8 bits"

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


_pil_limit_lock = threading.Lock()


@contextmanager
def _own_pixel_limit() -> Iterator[None]:
    """Let Image.open read the header of a huge image, so that we refuse it ourselves, naming its size, before
    any pixel is decoded (PIL's own check would refuse it without saying how large it is)."""
    with _pil_limit_lock:
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def load_image(path: str | Path, apply_exif: bool = True, max_pixels: int = MAX_IMAGE_PIXELS) -> LoadedImage:
    """Decode an image file to RGB uint8. Every failure raises ImageLoadError with a one-line message."""
    path = Path(path)
    name = path.name or str(path)
    if not path.exists():
        raise ImageLoadError(f"{name}: file not found")
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image")
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{name}: the file is empty")
        with warnings.catch_warnings(), _own_pixel_limit():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageLoadError(
                        f"{name}: {width} x {height} pixels is more than this tool opens "
                        f"({max_pixels / 1e6:.0f} megapixels)"
                    )
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)  # animations: the first frame
                img.load()
                oriented = ImageOps.exif_transpose(img) if apply_exif else img
                pixels, note = pil_to_rgb8(oriented)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageLoadError(f"{name}: not an image format this tool can read") from exc
        raise ImageLoadError(f"{name}: the image is too large to open safely") from exc
    except (OSError, SyntaxError, ValueError, MemoryError, EOFError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImageLoadError(f"{name}: cannot decode the image ({detail})") from exc
    if min(pixels.shape[:2]) < MIN_IMAGE_SIDE:
        raise ImageLoadError(
            f"{name}: {pixels.shape[1]} x {pixels.shape[0]} pixels is too small to match "
            f"(at least {MIN_IMAGE_SIDE} pixels a side)"
        )
    return LoadedImage(pixels, path, apply_exif, note)


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


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside `path`, then replace it: readers see the old file or the new one, never half.

    On any error the temporary file is removed and the previous file stays intact.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_atomically(path: str | Path, writer: Callable[[Path], None]) -> None:
    """For libraries that write to a path themselves (numpy, h5py, PIL): write a temporary path, then replace."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
