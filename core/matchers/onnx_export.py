"""EfficientLoFTR to ONNX: one file per weights and variant, any image size (multiples of 32), checked and labelled.

The graph is core.model.onnx_graph.FeatureGraph: inputs image0 (1, 1, H0, W0) and image1 (1, 1, H1, W1), grayscale in
[0, 1]; outputs each image's coarse and fine feature maps, from which core.model.efficientloftr.match_feature_maps
decides and refines the matches. Its metadata names the weights (SHA-256), the variant, the config and the exporter,
so a file is never run with the wrong expectations (read_onnx_metadata).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.formats.files import sha256_of
from core.types import Variant

# 4: the graph ends at the feature maps (the coarse matching runs in row blocks after it); 3: the whole matcher, no
# Einsum; 2: only the matches came out; 1: every coarse cell with an is_match flag.
FORMAT_VERSION = "4"
INPUT_NAMES = ("image0", "image1")
OUTPUT_NAMES = ("coarse0", "coarse1", "fine0", "fine1")
# torch.export's dynamic sizes are counted in units of 32 pixels; this bounds sides at 32768 pixels.
MAX_SIDE_UNITS = 1024
_KEY = "match_inspector."
ProgressCallback = Callable[[str, float], None]


class OnnxModelError(UserError, ValueError):
    """An ONNX file that cannot be used for these weights and options; the message says why."""


@dataclass(frozen=True)
class OnnxMetadata:
    weights_sha256: str
    variant: str
    config: dict[str, Any]
    exporter: str
    format_version: str = FORMAT_VERSION

    def to_props(self) -> dict[str, str]:
        return {
            _KEY + "weights_sha256": self.weights_sha256,
            _KEY + "variant": self.variant,
            _KEY + "config": json.dumps(self.config, sort_keys=True),
            _KEY + "exporter": self.exporter,
            _KEY + "format_version": self.format_version,
        }


def _exporter_versions() -> str:
    import onnxscript
    import torch

    return f"torch {torch.__version__} torch.onnx (dynamo), onnxscript {onnxscript.__version__}"


def export_onnx(
    weights: str | None,
    variant: Variant,
    output: str | Path,
    progress: ProgressCallback | None = None,
    local_files_only: bool = False,
) -> OnnxMetadata:
    """Export the fused fp32 matcher for `weights` and `variant` to `output` (written atomically)."""
    require_export_packages()
    import onnx
    import torch

    from core.formats.files import write_atomically
    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.onnx_graph import FeatureGraph
    from core.model.weights import load_pretrained, resolve_source

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    report("exporting to ONNX: loading weights", 0.0)
    path, found = resolve_source(weights, local_files_only=local_files_only)
    config = found or EfficientLoFTRConfig()
    if variant == "opt":
        config = replace(config, coarse_matching_skip_softmax=True)
    model = load_pretrained(EfficientLoFTRForKeypointMatching, str(path), config=config).fuse().eval()
    metadata = OnnxMetadata(sha256_of(path), variant, config.to_dict(), _exporter_versions())

    report("exporting to ONNX: tracing", 0.1)
    height0 = 32 * torch.export.Dim("height0", min=1, max=MAX_SIDE_UNITS)  # type: ignore[operator]
    width0 = 32 * torch.export.Dim("width0", min=1, max=MAX_SIDE_UNITS)  # type: ignore[operator]
    height1 = 32 * torch.export.Dim("height1", min=1, max=MAX_SIDE_UNITS)  # type: ignore[operator]
    width1 = 32 * torch.export.Dim("width1", min=1, max=MAX_SIDE_UNITS)  # type: ignore[operator]
    # Different example sizes, so nothing in the graph can assume the two images share one.
    example = (torch.rand(1, 1, 256, 320), torch.rand(1, 1, 224, 288))
    with torch.no_grad():
        program = torch.onnx.export(
            FeatureGraph(model),
            example,
            dynamo=True,
            dynamic_shapes={
                "image0": {2: height0, 3: width0},
                "image1": {2: height1, 3: width1},
            },
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            verbose=False,
        )
    assert program is not None
    report("exporting to ONNX: checking", 0.8)
    proto = program.model_proto
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "match-inspector"
    onnx.checker.check_model(proto, full_check=True)
    write_atomically(output, lambda tmp: onnx.save_model(proto, str(tmp)))
    report("exporting to ONNX: done", 1.0)
    return metadata


def read_onnx_metadata(path: str | Path) -> OnnxMetadata:
    """The labels of an exported file; OnnxModelError if it is not a readable ONNX file made by export_onnx()."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"ONNX model not found: {path}")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors and truncated files alike
        raise OnnxModelError(f"{path.name} is not a readable ONNX model ({type(exc).__name__})") from exc
    props = {p.key.removeprefix(_KEY): p.value for p in proto.metadata_props if p.key.startswith(_KEY)}
    inputs = tuple(i.name for i in proto.graph.input)
    if inputs != INPUT_NAMES or "weights_sha256" not in props:
        raise OnnxModelError(f"{path.name} is not an EfficientLoFTR model exported by match-inspector export-onnx")
    try:
        return OnnxMetadata(
            props["weights_sha256"],
            props["variant"],
            json.loads(props["config"]),
            props["exporter"],
            props.get("format_version", ""),
        )
    except (KeyError, json.JSONDecodeError) as exc:
        raise OnnxModelError(f"{path.name} has incomplete match-inspector metadata ({exc})") from exc


def check_onnx_matches(path: str | Path, weights_sha256: str, variant: str) -> OnnxMetadata:
    """read_onnx_metadata(), then OnnxModelError unless the file was exported from these weights and variant."""
    metadata = read_onnx_metadata(path)
    name = Path(path).name
    if metadata.format_version != FORMAT_VERSION:
        raise OnnxModelError(
            f"{name} was exported in format {metadata.format_version or '?'}, this version reads {FORMAT_VERSION}; "
            "export it again with match-inspector export-onnx"
        )
    if metadata.weights_sha256 != weights_sha256:
        raise OnnxModelError(
            f"{name} was exported from other weights (SHA-256 {metadata.weights_sha256[:12]}…, the chosen weights "
            f"are {weights_sha256[:12]}…); export it again for these weights or choose the matching --weights"
        )
    if metadata.variant != variant:
        raise OnnxModelError(
            f"{name} holds the '{metadata.variant}' variant but '{variant}' was asked for; "
            f"use --variant {metadata.variant} or export the '{variant}' variant"
        )
    return metadata


def require_export_packages() -> None:
    """OnnxModelError naming the extra to install when the exporter's packages are missing."""
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise OnnxModelError(f"exporting to ONNX needs {' and '.join(missing)}: pip install 'match-inspector[onnx]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
