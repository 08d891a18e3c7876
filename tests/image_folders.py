"""Image folders the CLI and export tests match: synthetic pairs under a known homography, written as PNG."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from core.analysis.synthetic import homography_pair


def write_plain_pairs(folder: Path, count: int, second: str = "", size: tuple[int, int] = (240, 320)) -> Path:
    """a{i}.png and {second}/b{i}.png, pair i a mild viewpoint change of one scene ((height, width) = size)."""
    (folder / second).mkdir(parents=True, exist_ok=True)
    for seed in range(count):
        pair = homography_pair(*size, seed=seed, strength=0.05)
        Image.fromarray(pair.image0).save(folder / f"a{seed}.png")
        Image.fromarray(pair.image1).save(folder / second / f"b{seed}.png")
    return folder
