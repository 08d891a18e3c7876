"""The seed's image processor: preprocess pairs, map matches back to original pixels, draw them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .drawing import draw_matches
from .io import as_rgb8, load_image, pil_to_rgb8
from .model.efficientloftr import KeypointMatchingOutput
from .sizing import inference_size

ImageLike = Image.Image | np.ndarray | str | Path


def to_rgb8(image: ImageLike) -> np.ndarray:
    if isinstance(image, (str, Path)):
        return load_image(image).pixels
    if isinstance(image, Image.Image):
        return pil_to_rgb8(image)[0]
    if isinstance(image, torch.Tensor):
        raise TypeError("give PIL images, numpy arrays or paths, not tensors")
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # channels-first input
    return as_rgb8(array)


GRAY_ROWS_PER_BAND = 256


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """float32 luminance in [0, 1] with the ITU-R 601 weights that OpenCV's grayscale reading uses.

    Computed in bands of rows: a float copy of all three channels of a 120-megapixel image would take 1.4 GB."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gray = np.empty(rgb.shape[:2], np.float32)
    for top in range(0, rgb.shape[0], GRAY_ROWS_PER_BAND):
        band = slice(top, top + GRAY_ROWS_PER_BAND)
        np.divide(rgb[band].astype(np.float32) @ weights, 255.0, out=gray[band])
    return gray


def resize_gray(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    if gray.shape == (height, width):
        return gray
    shrinking = height * width < gray.shape[0] * gray.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(gray, (width, height), interpolation=interpolation)


class EfficientLoFTRImageProcessor:
    """Same calls as transformers' EfficientLoFTRImageProcessor, with float sub-pixel outputs.

    `size` resizes every image to one fixed (height, width) like the seed (480 x 640); `long_side` instead keeps each
    image's aspect ratio. Sides are rounded to multiples of 32.
    """

    def __init__(
        self,
        do_resize: bool = True,
        size: dict[str, int] | None = None,
        long_side: int | None = None,
        do_grayscale: bool = True,
    ) -> None:
        self.do_resize = do_resize
        self.size = size if size is not None or long_side is not None else {"height": 480, "width": 640}
        self.long_side = long_side
        self.do_grayscale = do_grayscale

    def __call__(self, images: Any, return_tensors: str | None = "pt", **kwargs: Any) -> dict[str, Any]:
        return self.preprocess(images, return_tensors=return_tensors, **kwargs)

    @staticmethod
    def _pairs(images: Any) -> list[tuple[ImageLike, ImageLike]]:
        if isinstance(images, tuple):
            images = list(images)
        if isinstance(images, list) and len(images) == 2 and not isinstance(images[0], (list, tuple)):
            return [(images[0], images[1])]
        if isinstance(images, list) and images and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in images):
            return [(p[0], p[1]) for p in images]
        raise ValueError("images must be a pair of images or a list of pairs (PIL images, numpy arrays or paths)")

    def preprocess(
        self,
        images: Any,
        do_resize: bool | None = None,
        size: dict[str, int] | None = None,
        long_side: int | None = None,
        return_tensors: str | None = "pt",
        **_: Any,
    ) -> dict[str, Any]:
        """Returns `pixel_values` (B, 2, 1, H, W) when all images end up the same size, otherwise `pixel_values0`
        and `pixel_values1` (B, 1, H_i, W_i); plus `image_sizes` (original) and `input_sizes` (model), (B, 2, 2)."""
        if return_tensors not in ("pt", None):
            raise ValueError("only return_tensors='pt' is supported")
        do_resize = self.do_resize if do_resize is None else do_resize
        if size is None and long_side is None:
            size, long_side = self.size, self.long_side
        grays: list[list[np.ndarray]] = []
        original: list[list[tuple[int, int]]] = []
        for pair in self._pairs(images):
            row, sizes = [], []
            for image in pair:
                rgb = to_rgb8(image)
                h, w = rgb.shape[:2]
                target = inference_size(h, w, size, long_side, do_resize)
                row.append(resize_gray(to_gray(rgb), *target))
                sizes.append((h, w))
            grays.append(row)
            original.append(sizes)
        tensors = [[torch.from_numpy(np.ascontiguousarray(g))[None] for g in row] for row in grays]
        result: dict[str, Any] = {
            "image_sizes": torch.tensor(original),
            "input_sizes": torch.tensor([[list(g.shape) for g in row] for row in grays]),
        }
        shapes = {t.shape for row in tensors for t in row}
        if len(shapes) == 1:
            result["pixel_values"] = torch.stack([torch.stack(row) for row in tensors])
        else:
            if len({row[0].shape for row in tensors}) > 1 or len({row[1].shape for row in tensors}) > 1:
                raise ValueError("pairs of different sizes cannot be batched; process them one pair at a time")
            result["pixel_values0"] = torch.stack([row[0] for row in tensors])
            result["pixel_values1"] = torch.stack([row[1] for row in tensors])
        return result

    def post_process_keypoint_matching(
        self,
        outputs: KeypointMatchingOutput,
        image_sizes: Sequence[Sequence[Sequence[int]]] | torch.Tensor,
        threshold: float = 0.0,
    ) -> list[dict[str, torch.Tensor]]:
        """Per pair: keypoints0/keypoints1 (K, 2) float original-image pixels (row k of both = one match) and
        matching_scores (K,), keeping the matches whose score is above `threshold`."""
        sizes = torch.as_tensor(image_sizes, dtype=torch.float64)
        if sizes.ndim == 2:
            sizes = sizes[None]
        if sizes.shape[0] != outputs.keypoints.shape[0] or sizes.shape[1:] != (2, 2):
            raise ValueError("image_sizes must hold one [(h0, w0), (h1, w1)] per pair")
        results = []
        for b in range(outputs.keypoints.shape[0]):
            valid = (outputs.matches[b, 0] >= 0) & (outputs.matching_scores[b, 0] > threshold)
            pair: dict[str, torch.Tensor] = {}
            for side in (0, 1):
                in_h, in_w = outputs.input_sizes[side]
                scale = torch.tensor([sizes[b, side, 1] / in_w, sizes[b, side, 0] / in_h])
                kpts = outputs.keypoints[b, side][valid].double().cpu() * scale
                pair[f"keypoints{side}"] = kpts.float()
            pair["matching_scores"] = outputs.matching_scores[b, 0][valid].float().cpu()
            results.append(pair)
        return results

    def visualize_keypoint_matching(
        self, images: Any, keypoint_matching_output: list[dict[str, torch.Tensor]]
    ) -> list[Image.Image]:
        """Side-by-side picture per pair, match lines coloured by score (red low, green high)."""
        pictures = []
        for (a, b), matches in zip(self._pairs(images), keypoint_matching_output):
            rgb0, rgb1 = to_rgb8(a), to_rgb8(b)
            pictures.append(
                draw_matches(
                    rgb0,
                    rgb1,
                    matches["keypoints0"].numpy(),
                    matches["keypoints1"].numpy(),
                    matches["matching_scores"].numpy(),
                )
            )
        return pictures
