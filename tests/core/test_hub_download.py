"""The real download path, against a local stand-in for the Hub (tests/hub_server.py): no test reaches the internet.

Each step runs in a fresh process, as a user's start would: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE
when it is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis.synthetic import textured_scene
from tests.hub_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]
REPO = "test-org/tiny-eloftr"

MATCH_WITH_PROGRESS = """
import json, sys
import numpy as np
from core.matchers.match import match_pair
from core.types import MatchOptions
events = []
rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
match_pair(rgb, rgb, MatchOptions(weights=sys.argv[1], device="cpu", long_side=320),
           progress=lambda stage, fraction: events.append((stage, fraction)))
print(json.dumps(events))
"""


def tiny_model_files() -> dict[str, bytes]:
    """config.json and model.safetensors of a small EfficientLoFTR (random weights: loading is what is tested)."""
    import tempfile

    import torch

    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.weights import save_pretrained

    torch.manual_seed(0)
    config = EfficientLoFTRConfig(
        stage_num_blocks=[1, 1, 1, 1],
        out_features=[16, 16, 32, 64],
        hidden_size=64,
        num_attention_heads=2,
        num_attention_layers=1,
    )
    with tempfile.TemporaryDirectory() as folder:
        save_pretrained(EfficientLoFTRForKeypointMatching(config), config, folder)
        return {name: (Path(folder) / name).read_bytes() for name in ("config.json", "model.safetensors")}


@pytest.fixture(scope="module")
def model_files() -> dict[str, bytes]:
    return tiny_model_files()


@pytest.fixture
def pair(tmp_path) -> tuple[str, str]:
    paths = []
    for side in range(2):
        path = tmp_path / f"img{side}.png"
        Image.fromarray(textured_scene(240, 320, 60 + side)).save(path)
        paths.append(str(path))
    return paths[0], paths[1]


def _env(hf_home: Path, endpoint: str, offline: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("HF_")}
    env.update(
        HF_HOME=str(hf_home),
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(ROOT),
        MATCH_INSPECTOR_LOG=str(hf_home / "errors.log"),
    )
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from gui.cli import main; import sys; sys.exit(main())", *argv]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _match_argv(pair: tuple[str, str], out: Path) -> list[str]:
    return ["match", *pair, "-o", str(out), "--weights", REPO, "--resize", "320", "--device", "cpu", "--threshold", "0"]


def test_first_start_downloads_with_progress_then_works_offline(model_files, pair, tmp_path):
    hub = FakeHub(REPO, model_files).start()
    hf_home = tmp_path / "hf"
    try:
        done = subprocess.run(
            [sys.executable, "-c", MATCH_WITH_PROGRESS, REPO],
            cwd=ROOT,
            env=_env(hf_home, hub.url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    finally:
        hub.stop()
    events = json.loads(done.stdout.strip().splitlines()[-1])
    downloads = [fraction for stage, fraction in events if stage == "downloading model.safetensors"]
    assert downloads and downloads[-1] == 1.0 and all(0 <= f <= 1 for f in downloads), events
    fetched = {path.rsplit("/", 1)[-1] for method, path, _ in hub.requests if method == "GET"}
    assert fetched == {"config.json", "model.safetensors"}

    # Second start, the server gone: from the cache, both with HF_HUB_OFFLINE and without it (no network).
    for offline in (True, False):
        out = tmp_path / f"offline-{offline}.npz"
        again = _cli(_env(hf_home, hub.url, offline=offline), *_match_argv(pair, out))
        assert again.returncode == 0, again.stderr
        assert out.is_file()


def test_interrupted_download_is_a_clear_message_and_the_next_attempt_succeeds(model_files, pair, tmp_path):
    hub = FakeHub(REPO, model_files).start()
    hf_home = tmp_path / "hf"
    try:
        hub.cut_short["model.safetensors"] = 100  # every attempt the client makes this time is cut off
        failed = _cli(_env(hf_home, hub.url), *_match_argv(pair, tmp_path / "first.npz"))
        hub.cut_short.clear()
        requests_before = len(hub.requests)
        second = _cli(_env(hf_home, hub.url), *_match_argv(pair, tmp_path / "second.npz"))
    finally:
        hub.stop()
    assert failed.returncode == 2
    message = failed.stderr.strip().splitlines()[-1]
    assert "did not complete" in message and "run again" in message and "Traceback" not in failed.stderr
    assert not (tmp_path / "first.npz").exists()
    assert second.returncode == 0, second.stderr
    assert "model.safetensors" in second.stderr and "100%" in second.stderr, "the CLI shows a progress bar"
    fetched = [r for r in hub.requests[requests_before:] if r[0] == "GET" and r[1].endswith("model.safetensors")]
    assert len(fetched) == 1, "one clean download on the second attempt"


def test_a_wrong_file_on_the_hub_gives_the_strict_loading_message(model_files, pair, tmp_path):
    from safetensors.numpy import save

    wrong = save({"classifier.weight": np.zeros((10, 4), np.float32)})
    hub = FakeHub(REPO, {"config.json": model_files["config.json"], "model.safetensors": wrong}).start()
    try:
        done = _cli(_env(tmp_path / "hf", hub.url), *_match_argv(pair, tmp_path / "m.npz"))
    finally:
        hub.stop()
    assert done.returncode == 2
    assert "does not hold EfficientLoFTR weights" in done.stderr and "missing keys" in done.stderr
    assert "classifier.weight" in done.stderr and "Traceback" not in done.stderr
