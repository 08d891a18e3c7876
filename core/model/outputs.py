"""Typed model outputs that read like transformers' ones: attributes, keys, integer indices and to_tuple().

Fields marked `extra` are ours (timings, what the ambiguity view needs, ...): reachable as attributes, but left out
of keys() and to_tuple(), so code that unpacks transformers' outputs sees the same fields in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

# One entry per image pair member: (B, 2, ...) when both images share a size, else a (image 0, image 1) pair.
PairTensor = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
EXTRA = {"extra": True}


def pair_of(tensor0: torch.Tensor, tensor1: torch.Tensor) -> PairTensor:
    """Stack the two images' tensors on a new dim 1 when their shapes agree, else keep them as a pair."""
    return torch.stack([tensor0, tensor1], dim=1) if tensor0.shape == tensor1.shape else (tensor0, tensor1)


@dataclass
class ModelOutput:
    def keys(self) -> list[str]:
        """The set (not None) transformers-style fields, in declaration order."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if not f.metadata.get("extra") and getattr(self, f.name) is not None
        ]

    def values(self) -> list[Any]:
        return [getattr(self, key) for key in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(key, getattr(self, key)) for key in self.keys()]

    def to_tuple(self) -> tuple[Any, ...]:
        return tuple(self.values())

    def __getitem__(self, key: str | int | slice) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(f"'{key}' is not set in this {type(self).__name__} (set: {', '.join(self.keys())})")
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass
class KeypointMatchingOutput(ModelOutput):
    """Per pair b: keypoints[b, 0, k] in image 0 matches keypoints[b, 1, matches[b, 0, k]] where matches >= 0.

    Keypoints are float (x, y) normalised by each image's model-input width and height, as in transformers: the
    processor's post_process_keypoint_matching turns them into original-image pixels. Pairs with fewer matches are
    padded with matches = -1 and scores = 0.
    """

    matches: torch.Tensor  # (B, 2, K)
    matching_scores: torch.Tensor  # (B, 2, K)
    keypoints: torch.Tensor  # (B, 2, K, 2)
    loss: torch.Tensor | None = None  # never set: the model is inference-only
    hidden_states: tuple[PairTensor, ...] | None = None
    attentions: tuple[PairTensor, ...] | None = None
    # Ours. The keypoints in model-input pixels (B, 2, K, 2), exactly as computed (no normalising round trip).
    pixel_keypoints: torch.Tensor | None = field(default=None, metadata=EXTRA)
    # Cell corners (B, 2, K, 2) in model-input pixels, for stage-by-stage checks.
    coarse_keypoints: torch.Tensor | None = field(default=None, metadata=EXTRA)
    # Model-input (height, width) of image 0 and image 1.
    input_sizes: tuple[tuple[int, int], tuple[int, int]] | None = field(default=None, metadata=EXTRA)
    coarse: CoarseOutput | None = field(default=None, metadata=EXTRA)
    timings: dict[str, float] = field(default_factory=dict, metadata=EXTRA)


@dataclass
class CoarseOutput:
    """What one row of the coarse confidence matrix needs (core.analysis.ambiguity), for every pair of the batch."""

    features0: torch.Tensor  # (B, L, C) transformer features of image 0's coarse cells, row-major
    features1: torch.Tensor  # (B, S, C) the same for image 1
    column_lse: torch.Tensor | None  # (B, S) log of each image-1 column's softmax sum; None: softmax skipped
    cells: torch.Tensor  # (B, 2, K) flat coarse cell of each match in image 0 and image 1 (-1 for padding)
    grids: tuple[tuple[int, int], tuple[int, int]]  # coarse (rows, cols) of image 0 and image 1
    temperature: float


@dataclass
class BackboneOutput(ModelOutput):
    """EfficientLoFTRModel's output, as transformers': feature_maps = (coarse features after the transformer,
    then the backbone's finer residual features, 1/2 resolution first); each (B, 2, C, h, w)."""

    feature_maps: tuple[PairTensor, ...]
    hidden_states: tuple[PairTensor, ...] | None = None
    attentions: tuple[PairTensor, ...] | None = None
