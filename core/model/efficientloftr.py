"""EfficientLoFTR: backbone -> aggregated-attention transformer -> coarse matching -> two-stage fine refinement."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.model.backbone import RepVGGBackbone
from core.model.coarse import CellCounts, CoarseMatches, Step, confidence_maxima, image_cells, select_matches
from core.model.config import EfficientLoFTRConfig
from core.model.fine import FineFusion, gather_windows_upsampled, refine
from core.model.outputs import BackboneOutput, CoarseOutput, KeypointMatchingOutput, PairTensor, pair_of
from core.model.transformer import LocalFeatureTransformer

STAGES = ("backbone", "transformer", "coarse", "fine")
# Share of a run's time each stage takes on CPU (640x480 to 1024x768): progress moves by these, block by block.
STAGE_SHARES = {"backbone": 0.35, "transformer": 0.2, "coarse": 0.15, "fine": 0.3}
PROGRESS_STEP = 0.01  # report progress when it moved at least this far (or a stage begins)


class Cancelled(Exception):
    """Raised between stages, or between the blocks of a stage, when the caller's cancel check says so."""


@dataclass
class StageHooks:
    """Called as the forward pass goes: `progress(stage_name, fraction_done)`, reported after each block (backbone
    block, attention of a transformer layer, row block of the coarse matching, fine fusion layer) whenever it moved
    by at least PROGRESS_STEP; `cancelled()`, checked at the same points, aborts the run with Cancelled when true."""

    progress: Callable[[str, float], None] | None = None
    cancelled: Callable[[], bool] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    _stage: str = field(default="", init=False, repr=False)
    _reported: float = field(default=-1.0, init=False, repr=False)

    def enter(self, stage: str) -> float:
        self._stage = stage
        self.step(0, 1)
        return time.perf_counter()

    def step(self, done: int, total: int) -> None:
        """`done` of the current stage's `total` blocks are finished: stop if asked to, report progress."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(self._stage)
        if self.progress is None:
            return
        stage = self._stage
        start = sum(STAGE_SHARES[s] for s in STAGES[: STAGES.index(stage)])
        fraction = start + STAGE_SHARES[stage] * min(done, total) / max(total, 1)
        if done == 0 or fraction - self._reported >= PROGRESS_STEP:
            self._reported = fraction
            self.progress(stage, fraction)

    def leave(self, stage: str, started: float, device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.timings[stage] = time.perf_counter() - started


ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Keys of the processor's output that describe the images rather than feed the model.
PROCESSOR_KEYS = ("image_sizes",)


def split_pixel_values(
    pixel_values: torch.Tensor | None,
    pixel_values0: torch.Tensor | None,
    pixel_values1: torch.Tensor | None,
    input_sizes: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two (B, 1, H_i, W_i) images from pixel_values (B, 2, C, H, W), or from pixel_values0/1 (B, C, H_i, W_i).

    Like transformers, the model reads channel 0 (the processor repeats gray into 3 channels). `input_sizes`
    (B, 2, 2), from the processor, crops each image to its own size when the pair was zero-padded to a common one.
    Any size is accepted: pad_to_multiple() brings the sides to what the network needs.
    """
    for given in (pixel_values, pixel_values0, pixel_values1):
        if given is not None and not isinstance(given, torch.Tensor):
            raise TypeError("pixel values must be torch tensors: call the processor with return_tensors='pt'")
    if pixel_values is not None:
        if pixel_values0 is not None or pixel_values1 is not None:
            raise ValueError("give either pixel_values or pixel_values0 and pixel_values1, not both")
        if pixel_values.ndim != 5 or pixel_values.shape[1] != 2:
            raise ValueError(
                f"pixel_values must have shape (batch, 2, channels, height, width), got {tuple(pixel_values.shape)}"
            )
        pixel_values0, pixel_values1 = pixel_values[:, 0], pixel_values[:, 1]
    if pixel_values0 is None or pixel_values1 is None:
        raise ValueError("give pixel_values, or both pixel_values0 and pixel_values1")
    images = []
    for side, image in enumerate((pixel_values0, pixel_values1)):
        if image.ndim != 4:
            raise ValueError(f"image {side} must have shape (batch, channels, height, width), got {tuple(image.shape)}")
        image = image[:, :1]
        if input_sizes is not None:
            sizes = torch.as_tensor(input_sizes).reshape(-1, 2, 2)[:, side]
            if len(sizes) != len(image) or bool((sizes != sizes[0]).any()):
                raise ValueError("input_sizes must give one size per pair, the same for all pairs of a batch")
            height, width = (int(v) for v in sizes[0])
            image = image[..., :height, :width]
        images.append(image)
    return images[0], images[1]


def pad_to_multiple(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) at the bottom and right to sides that are multiples of `multiple`; pixel coordinates
    stay those of the input. An image whose sides already are is returned as it is."""
    pad_h, pad_w = -image.shape[-2] % multiple, -image.shape[-1] % multiple
    return F.pad(image, (0, pad_w, 0, pad_h)) if pad_h or pad_w else image


def cells_inside(size: tuple[int, int], stride: int) -> CellCounts:
    """(rows, cols) of coarse cells that an image of `size` (height, width) covers wholly. A cell that padding
    completes is left out: its fine window would reach into the padding."""
    return size[0] // stride, size[1] // stride


def _refuse(labels: object, extra: dict[str, object]) -> None:
    if labels is not None:
        raise ValueError("EfficientLoFTR here is inference-only: there is no training loss, so labels are refused")
    unknown = sorted(set(extra) - set(PROCESSOR_KEYS))
    if unknown:
        raise TypeError(f"unexpected argument(s) {', '.join(unknown)}")


class PretrainedModule(nn.Module):
    """`.device` and `.dtype` as transformers models have them, and the loading options of from_pretrained."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def set_attn_implementation(self, name: str) -> None:
        """Attention kernel: "sdpa" (fused, the default) or "eager" (explicit softmax, as output_attentions uses)."""
        from core.model.transformer import MultiHeadAttention

        if name not in ATTN_IMPLEMENTATIONS:
            raise ValueError(f"attn_implementation '{name}' is not available (use {' or '.join(ATTN_IMPLEMENTATIONS)})")
        for module in self.modules():
            if isinstance(module, MultiHeadAttention):
                module.eager = name == "eager"

    def _loaded_with(self, dtype: torch.dtype | str | None, attn_implementation: str | None) -> None:
        if isinstance(dtype, str) and dtype != "auto":
            if dtype.removeprefix("torch.") not in DTYPES:
                raise ValueError(f"dtype '{dtype}' is not supported (use {', '.join(DTYPES)} or 'auto')")
            dtype = DTYPES[dtype.removeprefix("torch.")]
        if isinstance(dtype, torch.dtype):
            self.to(dtype)
        if attn_implementation is not None:
            self.set_attn_implementation(attn_implementation)


class EfficientLoFTRModel(PretrainedModule):
    """Backbone and coarse transformer (the transformers `efficientloftr.` prefix); forward returns the features."""

    def __init__(self, config: EfficientLoFTRConfig | None = None) -> None:
        super().__init__()
        self.config = config or EfficientLoFTRConfig()
        self.backbone = RepVGGBackbone(self.config)
        self.local_feature_transformer = LocalFeatureTransformer(self.config)
        self.eval()

    @classmethod
    def from_pretrained(
        cls,
        source: str | None = None,
        dtype: torch.dtype | str | None = None,
        attn_implementation: str | None = None,
        **kwargs: Any,
    ) -> EfficientLoFTRModel:
        """The feature part of a saved EfficientLoFTRForKeypointMatching (Hub id, folder or checkpoint file)."""
        full = EfficientLoFTRForKeypointMatching.from_pretrained(source, dtype, attn_implementation, **kwargs)
        return full.efficientloftr

    def backbone_features(
        self, image0: torch.Tensor, image1: torch.Tensor, step: Step | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Backbone features at 1/2, 1/4 and 1/8 resolution of each image; one batched call for equal sizes.

        `step(done, total)`, when given, is called after each backbone block (of both images).
        """
        if not torch.compiler.is_exporting() and image0.shape == image1.shape:  # exported: sizes stay independent
            both = self.backbone(torch.cat([image0, image1]), step)
            pairs = [f.chunk(2) for f in both]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        if step is None:
            return self.backbone(image0), self.backbone(image1)
        first = self.backbone(image0, lambda done, total: step(done, 2 * total))
        return first, self.backbone(image1, lambda done, total: step(total + done, 2 * total))

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        *,
        pixel_values0: torch.Tensor | None = None,
        pixel_values1: torch.Tensor | None = None,
        input_sizes: torch.Tensor | None = None,
        **extra: object,
    ) -> BackboneOutput | tuple[Any, ...]:
        """feature_maps: the coarse features after the transformer, then the backbone's 1/2 and 1/4 features, of the
        images zero-padded at the bottom and right to multiples of config.size_multiple (32)."""
        _refuse(labels, extra)
        image0, image1 = split_pixel_values(pixel_values, pixel_values0, pixel_values1, input_sizes)
        multiple = self.config.size_multiple
        image0, image1 = pad_to_multiple(image0, multiple), pad_to_multiple(image1, multiple)
        hidden: list[PairTensor] | None = [] if output_hidden_states else None
        attentions: list[PairTensor] | None = [] if output_attentions else None
        feats0, feats1 = self.backbone_features(image0.to(self.dtype), image1.to(self.dtype))
        if hidden is not None:
            hidden += [pair_of(a, b) for a, b in zip(feats0, feats1)]
        coarse0, coarse1 = self.local_feature_transformer(feats0[-1], feats1[-1], hidden, attentions)
        maps = (pair_of(coarse0, coarse1), *(pair_of(a, b) for a, b in zip(feats0[:-1], feats1[:-1])))
        output = BackboneOutput(
            feature_maps=maps,
            hidden_states=tuple(hidden) if hidden is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
        )
        return output.to_tuple() if return_dict is False else output


class EfficientLoFTRForKeypointMatching(PretrainedModule):
    def __init__(self, config: EfficientLoFTRConfig | None = None) -> None:
        super().__init__()
        self.config = config or EfficientLoFTRConfig()
        self.efficientloftr = EfficientLoFTRModel(self.config)
        self.refinement_layer = FineFusion(self.config)
        self.coarse_threshold = self.config.coarse_matching_threshold
        self.channels_last = False
        self.fused = False
        self.eval()

    @classmethod
    def from_pretrained(
        cls,
        source: str | None = None,
        dtype: torch.dtype | str | None = None,
        attn_implementation: str | None = None,
        **kwargs: Any,
    ) -> EfficientLoFTRForKeypointMatching:
        """Hub id, folder or checkpoint file, as transformers' from_pretrained (`torch_dtype` is dtype's old name).

        Other options: config, progress, local_files_only (see core.model.weights.load_pretrained).
        """
        from core.model.weights import load_pretrained

        if "torch_dtype" in kwargs:
            dtype = kwargs.pop("torch_dtype")  # type: ignore[assignment]
        model = load_pretrained(cls, source, **kwargs)
        model._loaded_with(dtype, attn_implementation)
        return model

    def save_pretrained(self, folder: str | Path) -> Path:
        """config.json and model.safetensors that from_pretrained (ours or transformers') reads back."""
        from core.model.weights import save_pretrained

        if self.fused:
            raise ValueError("a fused model has no RepVGG branches left to save: save before fuse()")
        return save_pretrained(self, self.config, folder)

    def fuse(self) -> EfficientLoFTRForKeypointMatching:
        """Re-parameterise the RepVGG backbone and fold the fine-fusion BatchNorms; outputs stay the same."""
        self.efficientloftr.backbone.fuse()
        self.refinement_layer.fuse()
        self.fused = True
        return self

    def optimize_for_inference(self) -> EfficientLoFTRForKeypointMatching:
        """fuse() plus channels-last weights, which oneDNN convolutions run 10-40% faster on CPU."""
        self.fuse()
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.channels_last = True
        return self

    def _features(
        self, image0: torch.Tensor, image1: torch.Tensor, step: Step | None = None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return self.efficientloftr.backbone_features(image0, image1, step)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        *,
        pixel_values0: torch.Tensor | None = None,
        pixel_values1: torch.Tensor | None = None,
        input_sizes: torch.Tensor | None = None,
        hooks: StageHooks | None = None,
        **extra: object,
    ) -> KeypointMatchingOutput | tuple[Any, ...]:
        """pixel_values: (B, 2, 1|3, H, W) from the processor (with its input_sizes when the pair was padded), or
        pixel_values0/1: (B, 1, H_i, W_i); values in [0, 1] grayscale.

        Any size: the network needs sides that are multiples of config.size_multiple (32), so the images are
        zero-padded at the bottom and right, and coarse cells not wholly inside an image take no part in the coarse
        matching (keypoints stay inside the input). Keypoints are in the input's pixels; inputs already of such
        sizes run unpadded. `model(**processor_output)` works.

        Gradients flow when enabled; under torch.inference_mode() or no_grad the coarse matching works in place
        (less memory, same results).
        """
        _refuse(labels, extra)
        image0, image1 = split_pixel_values(pixel_values, pixel_values0, pixel_values1, input_sizes)
        hooks = hooks or StageHooks()
        device = image0.device
        sizes = (
            (int(image0.shape[-2]), int(image0.shape[-1])),
            (int(image1.shape[-2]), int(image1.shape[-1])),
        )
        cfg = self.config
        image0, image1 = pad_to_multiple(image0, cfg.size_multiple), pad_to_multiple(image1, cfg.size_multiple)
        image0, image1 = image0.to(self.dtype), image1.to(self.dtype)
        if self.channels_last:
            image0 = image0.contiguous(memory_format=torch.channels_last)
            image1 = image1.contiguous(memory_format=torch.channels_last)
        hidden: list[PairTensor] | None = [] if output_hidden_states else None
        attentions: list[PairTensor] | None = [] if output_attentions else None

        t = hooks.enter("backbone")
        feats0, feats1 = self._features(image0, image1, hooks.step)
        hooks.leave("backbone", t, device)
        if hidden is not None:
            hidden += [pair_of(a, b) for a, b in zip(feats0, feats1)]

        t = hooks.enter("transformer")
        transformer = self.efficientloftr.local_feature_transformer
        coarse0, coarse1 = transformer(feats0[-1], feats1[-1], hidden, attentions, hooks.step)
        hooks.leave("transformer", t, device)

        output = match_feature_maps(
            cfg,
            sizes,
            coarse0,
            coarse1,
            lambda step: self.fine_maps(coarse0, coarse1, feats0, feats1, step),
            self.coarse_threshold,
            hooks,
        )
        output.hidden_states = tuple(hidden) if hidden is not None else None
        output.attentions = tuple(attentions) if attentions is not None else None
        return output.to_tuple() if return_dict is False else output

    def fine_maps(
        self,
        coarse0: torch.Tensor,
        coarse1: torch.Tensor,
        feats0: list[torch.Tensor],
        feats1: list[torch.Tensor],
        step: Step | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The fine feature maps (B, C, H/2, W/2) of both images: the transformer output fused with the backbone's
        finer levels; `step(done, total)` after each fusion layer. The matches' windows are gathered from these."""
        # The original scales the transformer output by 1/sqrt(C) before the fine fusion.
        scale = coarse0.shape[1] ** 0.5
        fusion = self.refinement_layer
        if not torch.compiler.is_exporting() and coarse0.shape == coarse1.shape:
            residuals = [torch.cat([a, b]) for a, b in zip(feats0[:-1], feats1[:-1])]
            half0, half1 = fusion(torch.cat([coarse0, coarse1]) / scale, residuals, False, step).chunk(2)
            return half0, half1
        total = 2 * fusion.steps()
        half0 = fusion(coarse0 / scale, feats0[:-1], False, None if step is None else lambda d, _: step(d, total))
        second = None if step is None else (lambda d, _: step(fusion.steps() + d, total))
        return half0, fusion(coarse1 / scale, feats1[:-1], False, second)


FineMaps = Callable[[Step | None], tuple[torch.Tensor, torch.Tensor]]  # step -> the fine maps of both images


def match_feature_maps(
    config: EfficientLoFTRConfig,
    sizes: tuple[tuple[int, int], tuple[int, int]],
    coarse0: torch.Tensor,
    coarse1: torch.Tensor,
    fine_maps: FineMaps,
    threshold: float,
    hooks: StageHooks,
) -> KeypointMatchingOutput:
    """Coarse matching in row blocks, then the refinement of the matches only: everything after the networks.

    Shared by the eager model and the exported backends (whose graph ends at the feature maps), so both decide the
    matches with the same code. `sizes`: the (height, width) of the unpadded inputs; `fine_maps(step)` gives the
    fine maps, computed only when there are matches to refine.
    """
    device = coarse0.device
    t = hooks.enter("coarse")
    hw0, hw1 = (coarse0.shape[-2], coarse0.shape[-1]), (coarse1.shape[-2], coarse1.shape[-1])
    inside = cells_inside(sizes[0], config.coarse_stride), cells_inside(sizes[1], config.coarse_stride)
    padded = (hw0, hw1) != inside
    valid = (image_cells(hw0, inside[0], device), image_cells(hw1, inside[1], device)) if padded else None
    flat0, flat1 = coarse0.flatten(2).transpose(1, 2), coarse1.flatten(2).transpose(1, 2)
    maxima = confidence_maxima(
        flat0,
        flat1,
        config.coarse_matching_temperature,
        config.coarse_matching_skip_softmax,
        valid,
        hooks.step,
    )
    matches = select_matches(
        maxima, hw0, hw1, threshold, config.coarse_matching_border_removal, inside if padded else None
    )
    hooks.leave("coarse", t, device)

    t = hooks.enter("fine")
    kpts0, kpts1, corners0, corners1 = refine_matches(matches, hw0, hw1, fine_maps, config, hooks.step)
    hooks.leave("fine", t, device)
    slots = _Slots(matches.batch_ids, coarse0.shape[0])
    (h0, w0), (h1, w1) = sizes
    pixels = torch.stack([slots.fill(kpts0, 0.0), slots.fill(kpts1, 0.0)], 1)
    keypoints = pixels / torch.tensor([[[w0, h0]], [[w1, h1]]], dtype=pixels.dtype, device=pixels.device)
    return KeypointMatchingOutput(
        matches=torch.stack([slots.fill(slots.slot, -1)] * 2, 1),
        matching_scores=torch.stack([slots.fill(matches.confidence.float(), 0.0)] * 2, 1),
        keypoints=keypoints,
        pixel_keypoints=pixels,
        coarse_keypoints=torch.stack([slots.fill(corners0, 0.0), slots.fill(corners1, 0.0)], 1),
        input_sizes=sizes,  # type: ignore[arg-type]
        coarse=CoarseOutput(
            features0=flat0,
            features1=flat1,
            column_lse=maxima.col_lse,
            cells=torch.stack([slots.fill(matches.cells0, -1), slots.fill(matches.cells1, -1)], 1),
            grids=(hw0, hw1),  # type: ignore[arg-type]
            temperature=config.coarse_matching_temperature,
        ),
        timings=dict(hooks.timings),
    )


def refine_matches(
    matches: CoarseMatches,
    hw0: tuple[int, int],
    hw1: tuple[int, int],
    fine_maps: FineMaps,
    config: EfficientLoFTRConfig,
    step: Step | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fine keypoints and coarse cell corners (M, 2) in model-input pixels; `step(done, total)` after each fusion
    layer, the window gathering and the refinement."""
    stride = config.coarse_stride
    w0, w1 = hw0[1], hw1[1]
    corners0 = torch.stack([matches.cells0 % w0, matches.cells0 // w0], -1).float() * stride
    corners1 = torch.stack([matches.cells1 % w1, matches.cells1 // w1], -1).float() * stride
    if len(matches.cells0) == 0:
        return corners0, corners1, corners0, corners1
    fused = [1]  # the fusion's step count, known once it reports

    def fusion_step(done: int, total: int) -> None:
        fused[0] = total
        if step is not None:
            step(done, total + 2)

    half0, half1 = fine_maps(fusion_step)
    # The last x2 upsampling is folded into the window gathering: the full-resolution map is never built.
    size = config.fine_kernel_size
    full0, full1 = (hw0[0] * stride, w0 * stride), (hw1[0] * stride, w1 * stride)
    win0 = gather_windows_upsampled(half0, matches.batch_ids, matches.cells0, w0, size, 0, full0)
    win1 = gather_windows_upsampled(half1, matches.batch_ids, matches.cells1, w1, size + 2, 1, full1)
    if step is not None:
        step(fused[0] + 1, fused[0] + 2)
    off0, off1, subpixel = refine(
        win0.float(), win1.float(), config.fine_matching_slice_dim, config.fine_matching_regress_temperature
    )
    if step is not None:
        step(fused[0] + 2, fused[0] + 2)
    # Fine pixels are image pixels (the fine map is at full resolution).
    return corners0 + off0, corners1 + off1 + subpixel, corners0, corners1


class _Slots:
    """Packs per-match values (M, ...) into per-pair rows (B, K, ...), K the largest match count of the batch."""

    def __init__(self, batch_ids: torch.Tensor, batch: int) -> None:
        counts = torch.bincount(batch_ids, minlength=batch)
        self.batch_ids = batch_ids
        self.shape = (batch, int(counts.max()) if batch else 0)
        starts = torch.cumsum(counts, 0) - counts
        self.slot = torch.arange(len(batch_ids), device=batch_ids.device) - starts[batch_ids]

    def fill(self, values: torch.Tensor, padding: float) -> torch.Tensor:
        packed = values.new_full((*self.shape, *values.shape[1:]), padding)
        packed[self.batch_ids, self.slot] = values
        return packed
