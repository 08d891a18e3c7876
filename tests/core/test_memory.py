"""Large images: bounded memory in the grayscale conversion, and PIL's decompression-bomb guard left on."""

from __future__ import annotations

import tracemalloc

import numpy as np
from PIL import Image, ImageOps

from core.formats.images import load_image
from core.processor import to_gray


def test_gray_conversion_is_exact_and_needs_little_beyond_its_output():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (700, 50, 3), dtype=np.uint8)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_array_equal(to_gray(small), (small.astype(np.float32) @ weights) / 255.0)

    large = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        gray = to_gray(large)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output plus one band of rows (16 MB here); a float copy of all three channels alone would be 3x the output.
    assert peak < 1.5 * gray.nbytes, f"peak {peak / 1e6:.0f} MB for a {gray.nbytes / 1e6:.0f} MB result"


def test_the_decompression_bomb_guard_stays_on_while_decoding(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path)
    default = Image.MAX_IMAGE_PIXELS
    seen = []
    original = ImageOps.exif_transpose

    def spy(image, *args, **kwargs):
        seen.append(Image.MAX_IMAGE_PIXELS)
        return original(image, *args, **kwargs)

    monkeypatch.setattr(ImageOps, "exif_transpose", spy)
    load_image(path)
    assert seen == [default] and default is not None
