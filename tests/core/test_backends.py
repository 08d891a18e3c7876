"""The ONNX export run by ONNX Runtime and OpenVINO against our PyTorch fp32 model: same matches, same keypoints.

The random-weight model of the parity tests is exported once per variant (session fixture); every size is run from
that one file, which is what "dynamic height and width" promises.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.analysis.compare import compare_results
from core.analysis.synthetic import random_homography, textured_scene, warp
from core.types import MatchOptions

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SIZES = ((480, 640), (768, 1024), (608, 800))  # (height, width)
KPT_TOL_PX = 1e-3
# Largest score difference measured on these pairs: ONNX Runtime 4e-4, OpenVINO 7e-3 (its exp/log in the dual softmax);
# opt-variant logits (about 1000) differ by up to 6e-3 in ONNX Runtime.
SCORE_TOL = {"onnxruntime": 2e-3, "openvino": 2e-2}
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
BACKENDS = [
    "onnxruntime",
    pytest.param("openvino", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="the [openvino] extra is missing")),
]


def _pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    scene = textured_scene(height, width, 3)
    return scene, warp(scene, random_homography(height, width, 5, 0.04))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", ["full", "opt"])
def test_backend_gives_the_torch_matches_at_every_size(backend, variant, random_weights, onnx_models):
    """The same coarse matches as PyTorch (a difference only where PyTorch's own confidences tie), keypoints within
    1e-3 px, scores within the backend's tolerance: core.matchers.backend_choice.disagreement, the rule --backend
    auto applies before it picks a backend."""
    from core.matchers.backend_choice import disagreement
    from core.matchers.eloftr import run_model_output
    from core.matchers.match import match_pair

    for height, width in SIZES:
        options = MatchOptions(weights=random_weights, variant=variant, size=(width, height), backend="torch")
        reference = run_model_output(*_pair(height, width), options)
        exported = dataclasses.replace(options, backend=backend, onnx_model=str(onnx_models[variant]))
        candidate = run_model_output(*_pair(height, width), exported)
        assert int((reference.matches[0, 0] >= 0).sum()) > 30, "the random weights should give real matches"
        assert disagreement(reference, candidate, options.internal_threshold, backend) == "", f"{height}x{width}"
    result = match_pair(*_pair(height, width), exported)
    assert result.info.inference_sizes == ((height, width), (height, width))
    assert result.info.backend == backend and result.info.backend_version and result.info.backend_reason == "asked for"
    assert result.info.execution_provider in ("CPUExecutionProvider", "CPU")


NO_MATCH_SIZES = ((240, 320), (480, 640))  # (height, width) of the inputs; 240 is run at 224


def _no_match_pair(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A flat grey image against noise: the random weights find no match at the default internal threshold."""
    noise = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return np.full((height, width, 3), 128, np.uint8), noise


@pytest.mark.parametrize("backend", ["torch", "auto", *BACKENDS])
@pytest.mark.parametrize("variant", ["full", "opt"])
def test_a_pair_without_matches_gives_empty_results(backend, variant, random_weights, request):
    """Zero matches leave the graph's refinement with empty tensors (ONNX Runtime's Einsum died of SIGFPE on them);
    every backend returns empty arrays of the usual shapes and dtypes, as torch does."""
    from core.matchers.match import match_pair

    onnx_model = None if backend in ("torch", "auto") else str(request.getfixturevalue("onnx_models")[variant])
    options = MatchOptions(
        weights=random_weights, variant=variant, long_side=None, backend=backend, onnx_model=onnx_model
    )
    for height, width in NO_MATCH_SIZES:
        result = match_pair(*_no_match_pair(height, width), options)
        ran = "torch" if backend == "auto" else backend  # auto: nothing prepared in the tests' cache folder
        assert result.info.inference_sizes == ((height // 32 * 32, width),) * 2 and result.info.backend == ran
        assert (result.kpts0.shape, result.kpts1.shape, result.scores.shape) == ((0, 2), (0, 2), (0,)), height
        assert result.kpts0.dtype == result.kpts1.dtype == result.scores.dtype == np.float32


def test_the_rule_reports_a_lost_match_and_a_moved_keypoint(random_weights):
    """The check above can fail: a decisive match missing, or a keypoint moved by 0.01 px, is reported."""
    from core.matchers.backend_choice import disagreement
    from core.matchers.eloftr import run_model_output

    height, width = SIZES[0]
    options = MatchOptions(weights=random_weights, size=(width, height), backend="torch")
    reference = run_model_output(*_pair(height, width), options)
    cells = reference.coarse.cells.clone()
    cells[:, :, int(reference.matching_scores[0, 0].argmax())] = -1  # the most confident match gone
    lost = dataclasses.replace(reference, coarse=dataclasses.replace(reference.coarse, cells=cells))
    threshold = options.internal_threshold
    assert "differ from PyTorch's beyond ties" in disagreement(reference, lost, threshold, "onnxruntime")
    moved = dataclasses.replace(reference, pixel_keypoints=reference.pixel_keypoints + 0.01)
    assert "keypoints differ" in disagreement(reference, moved, threshold, "onnxruntime")
    assert disagreement(reference, reference, threshold, "onnxruntime") == ""


def test_different_image_sizes_run_from_one_file(random_weights, onnx_models):
    """Image 0 and image 1 of different sizes (the parity tests' 'different_sizes' pair) in one run."""
    from core.matchers.match import match_pair

    scene = textured_scene(480, 640, 3)
    other = warp(scene, np.diag([0.8, 0.8, 1.0]), size=(384, 512))
    options = MatchOptions(weights=random_weights, long_side=None)
    ours = match_pair(scene, other, options)
    onnx = str(onnx_models["full"])
    result = match_pair(scene, other, dataclasses.replace(options, backend="onnxruntime", onnx_model=onnx))
    comparison = compare_results(ours, result)
    assert result.info.inference_sizes == ((480, 640), (384, 512))
    assert len(ours) > 0 and (comparison.gained, comparison.lost) == (0, 0)
    assert comparison.max_displacement <= KPT_TOL_PX


def test_export_metadata_names_weights_variant_config_and_exporter(random_weights, onnx_models):
    import onnx

    from core.formats.files import sha256_of
    from core.matchers.onnx_export import read_onnx_metadata

    onnx.checker.check_model(str(onnx_models["opt"]))
    metadata = read_onnx_metadata(onnx_models["opt"])
    assert metadata.weights_sha256 == sha256_of(Path(random_weights) / "model.safetensors")
    assert metadata.variant == "opt" and metadata.config["coarse_matching_skip_softmax"] is True
    assert "torch" in metadata.exporter and "onnxscript" in metadata.exporter
    assert read_onnx_metadata(onnx_models["full"]).config["coarse_matching_skip_softmax"] is False
    graph = onnx.load(str(onnx_models["opt"]), load_external_data=False).graph
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input[:2]]
    assert all(isinstance(d, str) for shape in dims for d in shape[2:]), f"height/width must be dynamic: {dims}"


def test_backend_is_recorded_in_the_export_provenance(random_weights, onnx_models, tmp_path):
    from core.cli import run_cli
    from core.formats.match_files import read_matches

    image0, image1 = _pair(256, 320)
    from PIL import Image

    for name, image in (("a.png", image0), ("b.png", image1)):
        Image.fromarray(image).save(tmp_path / name)
    out = tmp_path / "m.json"
    args = ["match", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--weights", random_weights]
    assert run_cli([*args, "--backend", "onnxruntime", "--onnx", str(onnx_models["full"]), "-o", str(out)]) == 0
    provenance = read_matches(out).provenance
    assert provenance["backend"] == "onnxruntime"
    assert provenance["execution_provider"] == "CPUExecutionProvider"
    assert provenance["backend_version"] == __import__("onnxruntime").__version__


def test_compiled_once_and_cached_with_progress(random_weights, onnx_models, monkeypatch, tmp_path):
    """Through the cache folder: exported and compiled on first use (with progress), then the same object."""
    from core.matchers import backends

    monkeypatch.setenv("MATCH_INSPECTOR_CACHE_DIR", str(tmp_path))
    sha = backends.weights_sha256(Path(random_weights) / "model.safetensors")
    cached = backends.onnx_cache_path(sha, "full")
    cached.parent.mkdir(parents=True)
    shutil.copy(onnx_models["full"], cached)  # stands in for an earlier export (exporting is tested above)
    stages: list[str] = []
    options = MatchOptions(weights=random_weights, backend="onnxruntime")
    first = backends.load_compiled(options, lambda stage, fraction: stages.append(stage))
    assert stages and all("compiling for onnxruntime" == s for s in stages)
    stages.clear()
    assert backends.load_compiled(options, lambda stage, fraction: stages.append(stage)) is first
    assert stages == []


def _expect_one_clear_message(options: MatchOptions, *words: str) -> None:
    from core.matchers.match import match_pair

    with pytest.raises(ValueError) as error:
        match_pair(*_pair(128, 160), options)
    message = str(error.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_onnx_from_other_weights_is_refused(random_weights, onnx_models, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(random_weights, other)
    with open(other / "model.safetensors", "ab") as handle:
        handle.write(b"\0")  # other bytes, so other weights as far as the hash is concerned
    options = MatchOptions(weights=str(other), backend="onnxruntime", onnx_model=str(onnx_models["full"]))
    _expect_one_clear_message(options, "other weights", "SHA-256")


def test_onnx_of_the_other_variant_is_refused(random_weights, onnx_models):
    options = MatchOptions(
        weights=random_weights, variant="opt", backend="onnxruntime", onnx_model=str(onnx_models["full"])
    )
    _expect_one_clear_message(options, "'full' variant", "'opt'")


def test_onnx_of_an_earlier_format_is_refused(random_weights, onnx_models, tmp_path):
    """A file exported by an earlier version (format 1 returned every coarse cell) asks to be exported again."""
    import onnx

    proto = onnx.load(str(onnx_models["full"]))
    for entry in proto.metadata_props:
        if entry.key.endswith("format_version"):
            entry.value = "1"
    earlier = tmp_path / "earlier.onnx"
    onnx.save(proto, str(earlier))
    options = MatchOptions(weights=random_weights, backend="onnxruntime", onnx_model=str(earlier))
    _expect_one_clear_message(options, "format 1", "export it again")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign"])
def test_corrupt_or_foreign_onnx_gives_one_line_and_exit_2(damage, random_weights, onnx_models, tmp_path, capsys):
    import onnx

    from core.cli import run_cli

    broken = tmp_path / "broken.onnx"
    data = onnx_models["full"].read_bytes()
    if damage == "truncated":
        broken.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        broken.write_bytes(os.urandom(4096))
    else:  # a valid ONNX file that is not ours
        node = onnx.helper.make_node("Identity", ["x"], ["y"])
        value = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
        graph = onnx.helper.make_graph([node], "g", [value], [onnx.helper.make_tensor_value_info("y", 1, [1])])
        onnx.save(onnx.helper.make_model(graph), str(broken))
    image = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(textured_scene(128, 160, 1)).save(image)
    args = ["match", str(image), str(image), "--weights", random_weights, "--backend", "onnxruntime"]
    code = run_cli([*args, "--onnx", str(broken), "-o", str(tmp_path / "m.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "broken.onnx" in err, err


def test_missing_extra_says_what_to_install(random_weights, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    _expect_one_clear_message(
        MatchOptions(weights=random_weights, backend="openvino"), "pip install 'match-inspector[openvino]'"
    )


def test_onnx_runtime_runs_fp32_only(random_weights):
    _expect_one_clear_message(
        MatchOptions(weights=random_weights, backend="onnxruntime", precision="bf16"), "fp32", "--backend torch"
    )


@pytest.mark.skipif(not HAS_OPENVINO, reason="the [openvino] extra is missing")
def test_openvino_bf16_runs_in_bf16_and_is_recorded(random_weights, onnx_models, monkeypatch, tmp_path):
    import openvino as ov

    from core.matchers.backends import load_compiled
    from core.matchers.match import match_pair

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        _expect_one_clear_message(
            MatchOptions(weights=random_weights, backend="openvino", precision="bf16"), "bf16", "fp32"
        )
        return
    height, width = SIZES[0]
    fp32 = MatchOptions(
        weights=random_weights, size=(width, height), backend="openvino", onnx_model=str(onnx_models["full"])
    )
    bf16 = dataclasses.replace(fp32, precision="bf16")
    # fp32 compiled first into the same cache folder, as a user who tries bf16 after fp32 does
    monkeypatch.setenv("MATCH_INSPECTOR_CACHE_DIR", str(tmp_path))
    load_compiled(fp32)
    compiled = load_compiled(bf16)
    assert compiled.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16  # type: ignore[attr-defined]
    exact, rounded = (match_pair(*_pair(height, width), options) for options in (fp32, bf16))
    assert rounded.info.precision == "bf16" and rounded.info.backend == "openvino"
    comparison = compare_results(exact, rounded)
    # bf16 keeps 8 bits of mantissa: the scores move, and the A/B view is how a user sees by how much.
    assert comparison.shared > 0 and comparison.max_displacement < 8
    shared, order = comparison.shared_b, comparison.counterpart_b
    assert np.abs(rounded.scores[shared] - exact.scores[order[shared]]).max() > 1e-3


def test_export_cli_refuses_a_wrong_suffix(random_weights, tmp_path, capsys):
    from core.cli import run_cli

    assert run_cli(["export-onnx", "--weights", random_weights, "-o", str(tmp_path / "model.txt")]) == 2
    assert ".onnx" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_an_onnx_file_is_not_silently_ignored_by_the_torch_backend(backend, random_weights, onnx_models):
    options = MatchOptions(weights=random_weights, onnx_model=str(onnx_models["full"]), backend=backend)
    _expect_one_clear_message(options, "onnxruntime or openvino backend", f"not {backend}")
