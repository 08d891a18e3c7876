"""Regenerates the bundled sample pair (a synthetic scene and a second view under a known homography)."""

from pathlib import Path

import numpy as np
from PIL import Image

from core.synthetic import homography_pair

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    pair = homography_pair(600, 800, seed=2026, strength=0.08)
    Image.fromarray(pair.image0).save(HERE / "sample_pair_0.png", optimize=True)
    Image.fromarray(pair.image1).save(HERE / "sample_pair_1.png", optimize=True)
    np.savetxt(HERE / "sample_pair_homography.txt", pair.homography, header="H maps image 0 pixels to image 1")
