"""--backend auto: PyTorch until a backend has been exported and checked; then the fastest backend whose probe gave
PyTorch's matches. A backend that disagrees or fails is not picked, and the reason says why."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.analysis.synthetic import homography_pair
from core.types import MatchOptions

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


@pytest.fixture
def cache(random_weights, onnx_models, monkeypatch, tmp_path) -> Path:
    """A cache folder holding the export of the random weights (as an earlier export would leave it), a small
    probe pair so the probes stay quick, and no verdict yet."""
    from core.matchers import backend_choice, backends

    monkeypatch.setenv("MATCH_INSPECTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(backend_choice, "PROBE_SIZE", (320, 224))
    sha = backends.weights_sha256(Path(random_weights) / "model.safetensors")
    for variant in ("full", "opt"):
        cached = backends.onnx_cache_path(sha, variant)
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(onnx_models[variant], cached)
    return tmp_path


def _pair() -> tuple[np.ndarray, np.ndarray]:
    pair = homography_pair(224, 320, seed=4, strength=0.04)
    return pair.image0, pair.image1


def _verdicts(cache: Path) -> dict[str, dict]:
    record = json.loads(next((cache / "backend-choice").iterdir()).read_text())
    return {v["backend"]: v for v in record["verdicts"]}


def test_auto_runs_pytorch_and_says_so_until_prepared(random_weights, cache):
    from core.matchers.match import match_pair

    result = match_pair(*_pair(), MatchOptions(weights=random_weights))
    assert result.info.backend == "torch" and result.info.backend_preparable
    assert "not yet exported and checked" in result.info.backend_reason
    assert "prepare-backends" in result.info.backend_reason
    assert not (cache / "backend-choice").exists()  # a plain run never spends a minute preparing


def test_after_preparing_auto_runs_the_fastest_agreeing_backend(random_weights, cache):
    from core.formats.match_files import build_match_file
    from core.matchers.backend_choice import prepare_backends
    from core.matchers.match import match_pair

    options = MatchOptions(weights=random_weights)
    choice = prepare_backends(options)
    verdicts = _verdicts(cache)
    assert set(verdicts) == {"torch", "onnxruntime", *(["openvino"] if HAS_OPENVINO else [])}
    assert all(v["agrees"] for v in verdicts.values()), verdicts  # the exported networks give PyTorch's matches
    fastest = min(verdicts.values(), key=lambda v: v["seconds"])["backend"]
    assert choice.backend == fastest and not choice.preparable
    result = match_pair(*_pair(), options)
    assert result.info.backend == fastest and result.info.backend_reason == choice.reason
    assert "probe pair" in choice.reason or fastest == "torch"
    provenance = build_match_file(result, (None, None), threshold=0.2).provenance  # what match files record
    assert provenance["backend"] == fastest and provenance["backend_reason"] == choice.reason


def test_a_backend_that_disagrees_is_not_picked_and_the_reason_says_why(random_weights, cache, monkeypatch):
    """ONNX Runtime's coarse maps of image 1 rolled by one cell: its matches really differ, the rule sees it."""
    from core.matchers import backends
    from core.matchers.backend_choice import prepare_backends

    real = backends.OnnxRuntimeMatcher.features

    def shifted(self, gray0, gray1):
        coarse0, coarse1, fine0, fine1 = real(self, gray0, gray1)
        return coarse0, np.roll(coarse1, 1, axis=-1), fine0, fine1

    monkeypatch.setattr(backends.OnnxRuntimeMatcher, "features", shifted)
    choice = prepare_backends(MatchOptions(weights=random_weights))
    verdict = _verdicts(cache)["onnxruntime"]
    assert not verdict["agrees"] and "differ from PyTorch's" in verdict["reason"]
    assert choice.backend != "onnxruntime"
    assert "onnxruntime not used" in choice.reason and "differ from PyTorch's" in choice.reason


def test_a_backend_that_crashes_is_not_picked(random_weights, cache, monkeypatch):
    from core.matchers import backends
    from core.matchers.backend_choice import prepare_backends

    def crash(self, gray0, gray1):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code\nmore lines")

    monkeypatch.setattr(backends.OnnxRuntimeMatcher, "features", crash)
    choice = prepare_backends(MatchOptions(weights=random_weights))
    verdict = _verdicts(cache)["onnxruntime"]
    assert not verdict["agrees"] and verdict["reason"].startswith("failed: [ONNXRuntimeError]")
    assert "\n" not in verdict["reason"] and choice.backend != "onnxruntime"


def test_a_verdict_from_other_package_versions_is_not_trusted(random_weights, cache):
    from core.matchers.backend_choice import choose_backend, prepare_backends, verdict_path

    options = MatchOptions(weights=random_weights)
    prepare_backends(options)
    assert not choose_backend(options).preparable
    path = next((cache / "backend-choice").iterdir())
    record = json.loads(path.read_text())
    record["environment"]["onnxruntime"] = "0.0.1"
    path.write_text(json.dumps(record))
    assert choose_backend(options).preparable  # probe again rather than trust another version's verdict
    path.write_text("{ not json")
    assert choose_backend(options).backend == "torch"  # a damaged file is no verdict, not a crash
    assert verdict_path("0" * 64, options).parent == path.parent


def test_pick_prefers_the_fastest_agreeing_and_never_a_slower_one():
    from core.matchers.backend_choice import ProbeVerdict, pick

    verdicts = [
        ProbeVerdict("torch", True, 3.0, ""),
        ProbeVerdict("onnxruntime", True, 2.2, ""),
        ProbeVerdict("openvino", False, 1.5, "4 of 90 matches differ from PyTorch's beyond ties"),
    ]
    choice = pick(verdicts, ["openvino", "onnxruntime"])
    assert choice.backend == "onnxruntime" and "openvino not used: 4 of 90" in choice.reason
    assert pick(verdicts, ["openvino"]).backend == "torch"  # the only candidate disagrees
    slower = [ProbeVerdict("torch", True, 1.0, ""), ProbeVerdict("onnxruntime", True, 2.2, "")]
    assert pick(slower, ["onnxruntime"]).backend == "torch"
    # PyTorch won on time, and the refused backend is still named with its reason
    choice = pick([*slower, verdicts[2]], ["openvino", "onnxruntime"])
    assert choice.backend == "torch" and "openvino not used: 4 of 90" in choice.reason


def test_a_batch_prepares_up_front_only_when_it_pays_back(random_weights, cache, monkeypatch):
    from core.matchers import backend_choice

    options = MatchOptions(weights=random_weights)
    line = backend_choice.prepare_for_batch(options, backend_choice.PREPARE_MIN_PAIRS - 1)
    assert line.startswith("backend torch: PyTorch this time") and not (cache / "backend-choice").exists()
    monkeypatch.setattr(backend_choice, "PREPARE_MIN_PAIRS", 3)  # the real one is 200 pairs: too many for a test
    line = backend_choice.prepare_for_batch(options, 3)
    assert (cache / "backend-choice").exists() and line.startswith("backend ") and "this time" not in line


def test_auto_on_other_options_needs_no_probe(random_weights, cache):
    from core.matchers.backend_choice import choose_backend

    onnx_only_fp32 = choose_backend(MatchOptions(weights=random_weights, precision="fp16"))
    assert onnx_only_fp32.backend == "torch" and "does not run fp16" in onnx_only_fp32.reason
    assert not onnx_only_fp32.preparable
    asked = choose_backend(dataclasses.replace(MatchOptions(weights=random_weights), backend="onnxruntime"))
    assert (asked.backend, asked.reason) == ("onnxruntime", "asked for")
