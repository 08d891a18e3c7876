"""Regenerates the bundled sample pair: two overlapping views of a real photograph under a known homography.

The photograph (`photo_dscovr_launch.jpg`, public domain, see README.md) is enlarged to 1024 px, the usual size of
photo-collection images, and seen a second time under a moderate viewpoint change with a mild exposure change.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from core.analysis.synthetic import random_homography, warp

HERE = Path(__file__).resolve().parent
SIZE = (683, 1024)  # (height, width)

if __name__ == "__main__":
    with Image.open(HERE / "photo_dscovr_launch.jpg") as photo:
        scene = np.asarray(photo.convert("RGB").resize((SIZE[1], SIZE[0]), Image.Resampling.BICUBIC))
    homography = random_homography(*SIZE, seed=2026, strength=0.08)
    view = np.clip(warp(scene, homography).astype(np.float64) * 0.9 + 12, 0, 255).astype(np.uint8)
    Image.fromarray(scene).save(HERE / "sample_pair_0.png", optimize=True)
    Image.fromarray(view).save(HERE / "sample_pair_1.png", optimize=True)
    np.savetxt(HERE / "sample_pair_homography.txt", homography, header="H maps image 0 pixels to image 1")
