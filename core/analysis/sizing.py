"""Inference sizes: what each image is resized to before the model sees it (torch-free)."""

from __future__ import annotations

SIDE_MULTIPLE = 32  # the coarse map is 1/8 and the attention aggregates 4x4 cells
COARSE_STRIDE = 8
# The coarse matching holds one float32 matrix of (cells in image 0) x (cells in image 1): 4e8 entries is 1.6 GB.
MAX_COARSE_ENTRIES = 400_000_000


def round_to_multiple(value: float, multiple: int = SIDE_MULTIPLE) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def inference_size(
    height: int, width: int, size: dict[str, int] | None, long_side: int | None, do_resize: bool
) -> tuple[int, int]:
    """(height, width) fed to the model: a fixed size, or the long side scaled with aspect kept; multiples of 32."""
    if do_resize and size is not None:
        return round_to_multiple(size["height"]), round_to_multiple(size["width"])
    if do_resize and long_side is not None:
        scale = long_side / max(height, width)
        return round_to_multiple(height * scale), round_to_multiple(width * scale)
    return (
        max(SIDE_MULTIPLE, height // SIDE_MULTIPLE * SIDE_MULTIPLE),
        max(SIDE_MULTIPLE, width // SIDE_MULTIPLE * SIDE_MULTIPLE),
    )


def coarse_entries(size0: tuple[int, int], size1: tuple[int, int]) -> int:
    cells = [(h // COARSE_STRIDE) * (w // COARSE_STRIDE) for h, w in (size0, size1)]
    return cells[0] * cells[1]


def plan_inference_sizes(
    sizes: tuple[tuple[int, int], tuple[int, int]],
    size: dict[str, int] | None,
    long_side: int | None,
    max_entries: int = MAX_COARSE_ENTRIES,
) -> tuple[tuple[tuple[int, int], tuple[int, int]], list[str]]:
    """Model-input (height, width) of both images, downscaled together if the coarse matrix would not fit in
    memory; the notes say so in words for the status bar."""
    targets = [inference_size(h, w, size, long_side, bool(size or long_side)) for h, w in sizes]
    notes: list[str] = []
    while coarse_entries(targets[0], targets[1]) > max_entries:
        factor = (max_entries / coarse_entries(targets[0], targets[1])) ** 0.25 * 0.98
        targets = [inference_size(h, w, None, max(SIDE_MULTIPLE, int(max(h, w) * factor)), True) for h, w in targets]
    if targets != [inference_size(h, w, size, long_side, bool(size or long_side)) for h, w in sizes]:
        notes.append(
            "large images: inference at " + " and ".join(f"{w}x{h}" for h, w in targets) + " to stay within memory"
        )
    return (targets[0], targets[1]), notes
