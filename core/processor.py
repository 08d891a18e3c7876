"""The seed's image processor, with transformers' calls: preprocess pairs, map matches to original pixels, draw.

One intended difference: post-processed keypoints are float, sub-pixel, in original-image pixels (transformers
truncates them to integers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.analysis.sizing import inference_size
from core.formats.drawing import draw_matches
from core.formats.images import as_rgb8, load_image, pil_to_rgb8
from core.model.outputs import KeypointMatchingOutput

ImageLike = Image.Image | np.ndarray | torch.Tensor | str | Path
CONFIG_NAME = "preprocessor_config.json"
# Keys of a transformers preprocessor_config.json that carry no setting of ours.
INFORMATIVE_KEYS = ("image_processor_type", "processor_class", "default_to_square", "do_normalize")
RETURN_TENSORS = ("pt", "np", None)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as OpenCV's grayscale reading


def luma(rgb: np.ndarray) -> np.ndarray:
    """float32 luminance in the input's value range."""
    return rgb.astype(np.float32) @ LUMA_WEIGHTS


GRAY_ROWS_PER_BAND = 256


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """float32 luminance in [0, 1] of an 8-bit RGB image (ITU-R 601 weights, as OpenCV's grayscale reading).

    Computed in bands of rows: a float copy of all three channels of a 120-megapixel image would take 1.4 GB."""
    gray = np.empty(rgb.shape[:2], np.float32)
    for top in range(0, rgb.shape[0], GRAY_ROWS_PER_BAND):
        band = slice(top, top + GRAY_ROWS_PER_BAND)
        np.divide(luma(rgb[band]), 255.0, out=gray[band])
    return gray


def resize_gray(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """Our default resampling: area averaging when shrinking, bilinear when enlarging."""
    import cv2

    if gray.shape[:2] == (height, width):
        return gray
    shrinking = height * width < gray.shape[0] * gray.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(gray, (width, height), interpolation=interpolation)


def resize_with_filter(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """Resize float32 (H, W) or (H, W, C) with one of PIL's filters (the `resample` numbers transformers uses)."""
    if image.shape[:2] == (height, width):
        return image
    filt = Image.Resampling(resample)
    channels = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
    resized = [np.asarray(Image.fromarray(np.ascontiguousarray(c)).resize((width, height), filt)) for c in channels]
    return resized[0] if image.ndim == 2 else np.stack(resized, -1)


def to_rgb8(image: ImageLike) -> np.ndarray:
    """(H, W, 3) uint8 from a path, a PIL image, or an (H, W[, C]) / (C, H, W) numpy array or torch tensor.

    Arrays that are not 8-bit are brought to 8 bits as core.formats.images does (16-bit by range, floats as [0, 1]).
    """
    if isinstance(image, (str, Path)):
        return load_image(image).pixels
    if isinstance(image, Image.Image):
        return pil_to_rgb8(image)[0]
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # channels-first input
    return as_rgb8(array)


def _is_image(item: object) -> bool:
    if isinstance(item, (str, Path, Image.Image)):
        return True
    return isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim in (2, 3)


def image_pairs(images: Any) -> list[tuple[ImageLike, ImageLike]]:
    """A pair [image0, image1] or a list of pairs [[a0, a1], [b0, b1], ...]; anything else is a ValueError."""
    if isinstance(images, (list, tuple)):
        if len(images) == 2 and all(_is_image(i) for i in images):
            return [(images[0], images[1])]
        if images and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_image(i) for i in p) for p in images
        ):
            return [(p[0], p[1]) for p in images]
    raise ValueError(
        "images must be a pair of images or a list of pairs (PIL images, paths, (H, W[, C]) or (C, H, W) arrays or "
        "tensors)"
    )


class BatchFeature(dict):  # type: ignore[type-arg]
    """The processor's output: a dict with attribute access and .to(device / dtype), like transformers'."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no '{name}' in this batch (keys: {', '.join(self)})") from None

    def to(self, *args: Any, **kwargs: Any) -> BatchFeature:
        """Move every tensor to a device; a dtype casts only the floating-point ones (pixel values, not sizes)."""
        dtype_given = any(isinstance(a, torch.dtype) for a in args) or "dtype" in kwargs
        device_args = [a for a in args if not isinstance(a, torch.dtype)]
        device_kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        moved = BatchFeature()
        for key, value in self.items():
            if isinstance(value, torch.Tensor):
                if value.is_floating_point() or not dtype_given:
                    value = value.to(*args, **kwargs)
                elif device_args or device_kwargs:
                    value = value.to(*device_args, **device_kwargs)
            moved[key] = value
        return moved


class EfficientLoFTRImageProcessor:
    """Same calls and settings as transformers' EfficientLoFTRImageProcessor.

    `size` resizes every image to one fixed (height, width) like the seed (480 x 640); `long_side` instead keeps each
    image's aspect ratio. Sides are rounded to multiples of 32. `resample` (PIL filter number, transformers' name)
    defaults to None: area averaging when shrinking, bilinear when enlarging.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        do_resize: bool = True,
        size: dict[str, int] | None = None,
        resample: int | None = None,
        do_rescale: bool = True,
        rescale_factor: float = 1 / 255,
        do_grayscale: bool = True,
        long_side: int | None = None,
        **informative: Any,
    ) -> None:
        unknown = sorted(set(informative) - set(INFORMATIVE_KEYS))
        if unknown:
            raise TypeError(f"unknown image processor setting(s): {', '.join(unknown)}")
        if informative.get("do_normalize"):
            raise ValueError("EfficientLoFTR takes unnormalised [0, 1] gray values: do_normalize is not supported")
        self.do_resize = do_resize
        self.size = size if size is not None or long_side is not None else {"height": 480, "width": 640}
        self.long_side = long_side
        self.resample = None if resample is None else int(Image.Resampling(resample))
        self.do_rescale = do_rescale
        self.rescale_factor = float(rescale_factor)
        self.do_grayscale = do_grayscale

    # Settings: dict, JSON file, folder, Hub id.

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_processor_type": type(self).__name__,
            "do_resize": self.do_resize,
            "size": self.size,
            "long_side": self.long_side,
            "resample": self.resample,
            "do_rescale": self.do_rescale,
            "rescale_factor": self.rescale_factor,
            "do_grayscale": self.do_grayscale,
        }

    @classmethod
    def from_dict(cls, settings: dict[str, Any], **overrides: Any) -> EfficientLoFTRImageProcessor:
        return cls(**{**settings, **overrides})

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_json_file(self, path: str | Path) -> Path:
        """Write the settings as JSON (what from_json_file reads back)."""
        path = Path(path)
        path.write_text(self.to_json_string())
        return path

    def save_pretrained(self, folder: str | Path) -> Path:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return self.to_json_file(Path(folder) / CONFIG_NAME)

    @classmethod
    def from_pretrained(cls, source: str | Path, **overrides: Any) -> EfficientLoFTRImageProcessor:
        """From a folder or file holding preprocessor_config.json, or a Hugging Face Hub id (cached or fetched)."""
        path = Path(source).expanduser()
        if path.is_dir():
            path = path / CONFIG_NAME
        elif not path.exists() and re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)):
            from core.model.hub import hub_file

            path = hub_file(str(source), CONFIG_NAME)
        return cls.from_json_file(path, **overrides)

    @classmethod
    def from_json_file(cls, path: str | Path, **overrides: Any) -> EfficientLoFTRImageProcessor:
        try:
            settings = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the image processor settings {path}: {exc}") from exc
        if not isinstance(settings, dict):
            raise ValueError(f"{path} is not a JSON object")
        return cls.from_dict(settings, **overrides)

    # Preprocessing.

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)

    def preprocess(
        self,
        images: Any,
        do_resize: bool | None = None,
        size: dict[str, int] | None = None,
        resample: int | None = None,
        do_rescale: bool | None = None,
        rescale_factor: float | None = None,
        do_grayscale: bool | None = None,
        long_side: int | None = None,
        return_tensors: str | None = None,
    ) -> BatchFeature:
        """pixel_values (B, 2, 3, H, W) float32: gray repeated in 3 channels (RGB with do_grayscale=False), values
        times rescale_factor. Images of different sizes are zero-padded at the bottom and right to a common size;
        input_sizes (B, 2, 2) gives each one's own (height, width), which the model crops back to. image_sizes
        (B, 2, 2) are the original sizes. return_tensors: "pt" (torch), "np" (numpy) or None (lists of numpy
        arrays, one (2, 3, H, W) per pair)."""
        if return_tensors not in RETURN_TENSORS:
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, not {return_tensors!r}")
        do_resize = self.do_resize if do_resize is None else do_resize
        if size is None and long_side is None:
            size, long_side = self.size, self.long_side
        resample = self.resample if resample is None else int(Image.Resampling(resample))
        do_rescale = self.do_rescale if do_rescale is None else do_rescale
        factor = (self.rescale_factor if rescale_factor is None else rescale_factor) if do_rescale else 1.0
        do_grayscale = self.do_grayscale if do_grayscale is None else do_grayscale

        pairs, original = [], []
        for pair in image_pairs(images):
            planes, sizes = [], []
            for image in pair:
                rgb = to_rgb8(image)
                height, width = rgb.shape[:2]
                target = inference_size(height, width, size, long_side, do_resize)
                planes.append(self._resized(rgb, target, resample, do_grayscale) * np.float32(factor))
                sizes.append(rgb.shape[:2])
            pairs.append(planes)
            original.append(sizes)
        input_sizes = np.array([[p.shape[1:] for p in planes] for planes in pairs], dtype=np.int64)
        height, width = input_sizes[..., 0].max(), input_sizes[..., 1].max()
        pixels = np.zeros((len(pairs), 2, 3, height, width), np.float32)
        for b, planes in enumerate(pairs):
            for side, plane in enumerate(planes):
                pixels[b, side, :, : plane.shape[1], : plane.shape[2]] = plane
        sizes_array = np.array(original, dtype=np.int64)
        if return_tensors is None:
            return BatchFeature(
                pixel_values=list(pixels), image_sizes=sizes_array.tolist(), input_sizes=input_sizes.tolist()
            )
        data = {"pixel_values": pixels, "image_sizes": sizes_array, "input_sizes": input_sizes}
        if return_tensors == "pt":
            return BatchFeature({k: torch.from_numpy(v) for k, v in data.items()})
        return BatchFeature(data)

    @staticmethod
    def _resized(rgb: np.ndarray, target: tuple[int, int], resample: int | None, grayscale: bool) -> np.ndarray:
        """(3, H, W) float32 in 0..255 at the target (height, width)."""
        plane = luma(rgb) if grayscale else rgb.astype(np.float32)
        if resample is None:
            plane = resize_gray(plane, *target)
        else:
            plane = resize_with_filter(plane, *target, resample)
        if grayscale:
            return np.broadcast_to(plane, (3, *plane.shape))
        return plane.transpose(2, 0, 1)

    # Post-processing and drawing.

    def post_process_keypoint_matching(
        self,
        outputs: KeypointMatchingOutput | Any,
        target_sizes: Sequence[Sequence[Sequence[int]]] | torch.Tensor | np.ndarray | None = None,
        threshold: float = 0.0,
        image_sizes: Sequence[Sequence[Sequence[int]]] | torch.Tensor | np.ndarray | None = None,
    ) -> list[dict[str, torch.Tensor]]:
        """Per pair: keypoints0/keypoints1 (K, 2) float original-image pixels (row k of both = one match) and
        matching_scores (K,), keeping the matches whose score is above `threshold`.

        target_sizes: the original (height, width) of both images of each pair, (B, 2, 2) as nested sequences or
        a tensor; one pair may be given without the batch level. `image_sizes` is its older name.
        """
        if image_sizes is not None:
            if target_sizes is not None:
                raise ValueError("give target_sizes or its older name image_sizes, not both")
            target_sizes = image_sizes
        if target_sizes is None:
            raise ValueError("target_sizes (the original (height, width) of both images of each pair) is required")
        keypoints = getattr(outputs, "keypoints", None)
        matches = getattr(outputs, "matches", None)
        scores = getattr(outputs, "matching_scores", None)
        if keypoints is None or matches is None or scores is None:
            raise ValueError("outputs must have keypoints, matches and matching_scores (a keypoint matching output)")
        sizes = torch.as_tensor(np.asarray(torch.as_tensor(target_sizes).cpu()), dtype=torch.float64)
        if sizes.ndim == 2:
            sizes = sizes[None]
        if sizes.ndim != 3 or sizes.shape[0] != keypoints.shape[0] or sizes.shape[1:] != (2, 2):
            raise ValueError(
                f"target_sizes must hold one ((h0, w0), (h1, w1)) per pair: {keypoints.shape[0]} pair(s), "
                f"got shape {tuple(sizes.shape)}"
            )
        if not bool((sizes > 0).all()):
            raise ValueError("target_sizes must be positive (height, width) values")
        results = []
        for b in range(keypoints.shape[0]):
            valid = (matches[b, 0] >= 0) & (scores[b, 0] > threshold)
            partner = matches[b, 0][valid].long()
            scale = sizes[b].flip(-1)  # (w, h) per image: normalised -> pixels
            kpts0 = keypoints[b, 0][valid].detach().double().cpu() * scale[0]
            kpts1 = keypoints[b, 1][partner].detach().double().cpu() * scale[1]
            results.append(
                {
                    "keypoints0": kpts0.float(),
                    "keypoints1": kpts1.float(),
                    "matching_scores": scores[b, 0][valid].detach().float().cpu(),
                }
            )
        return results

    def visualize_keypoint_matching(
        self, images: Any, keypoint_matching_output: list[dict[str, torch.Tensor]]
    ) -> list[Image.Image]:
        """Side by side, image 1 starting right at image 0's width (as transformers draws it), match lines coloured
        by score (red low, green high)."""
        pictures = []
        for (a, b), matches in zip(image_pairs(images), keypoint_matching_output):
            rgb0, rgb1 = to_rgb8(a), to_rgb8(b)
            pictures.append(
                draw_matches(
                    rgb0,
                    rgb1,
                    np.asarray(matches["keypoints0"]),
                    np.asarray(matches["keypoints1"]),
                    np.asarray(matches["matching_scores"]),
                    gap=0,
                )
            )
        return pictures
