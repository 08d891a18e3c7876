import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Everything the app, its child processes and the libraries under it would keep in the user's folders goes to one
# temporary folder, removed at exit: tests never read the user's caches or settings and never write beside them.
# Set at import, before any test or child process starts, so subprocesses (CLI runs, workers, Ray) inherit it.
_USER_FOLDERS = Path(tempfile.mkdtemp(prefix="match-inspector-tests-"))
atexit.register(shutil.rmtree, _USER_FOLDERS, ignore_errors=True)
# HOME too: libraries that write beside the user's files without asking XDG (Ray's ~/.ray, OpenVINO's ~/intel).
os.environ["HOME"] = str(_USER_FOLDERS / "home")
(_USER_FOLDERS / "home").mkdir()
for _variable in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "MATCH_INSPECTOR_CACHE_DIR"):
    os.environ[_variable] = str(_USER_FOLDERS / _variable.lower())
os.environ["MATCH_INSPECTOR_SETTINGS_DIR"] = str(_USER_FOLDERS / "settings")
# No network in tests, and an empty Hugging Face cache: "no weights available" is the state tests start from.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_USER_FOLDERS / "hf-home")

# A suite started in the background (`command &` in a script, without job control) inherits an ignored SIGINT, and
# so would every process the tests start; the Ctrl+C tests need what a terminal gives: the default.
signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402 - after the environment above, which pytest plugins may read
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402

# Hypothesis keeps its examples and constants there too, not in .hypothesis/ of the checkout.
set_hypothesis_home_dir(str(_USER_FOLDERS / "hypothesis"))

try:
    import torch

    # Random weights push CPU activations into float32 denormals (3-4x slower); flushing them keeps tests fast and
    # does not change results at the tolerances checked.
    torch.set_flush_denormal(True)
except ImportError:  # pragma: no cover
    torch = None


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Each test starts from empty settings (QSettings), whatever an earlier test saved."""
    root = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("MATCH_INSPECTOR_SETTINGS_DIR", str(root))
    yield


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> str:
    """A saved model folder (config.json + model.safetensors) with calibrated random weights (tests/reference.py)."""
    pytest.importorskip("efficientloftr_inference")
    from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching
    from core.model.weights import load_weights_into, save_pretrained
    from tests.reference import calibrated_reference, reference_state_dict

    model = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig())
    load_weights_into(model, reference_state_dict(calibrated_reference(seed=2)), "reference")
    folder = tmp_path_factory.mktemp("weights") / "eloftr-random"
    save_pretrained(model, model.config, folder)
    return str(folder)


@pytest.fixture(scope="session")
def onnx_models(random_weights, tmp_path_factory) -> dict[str, Path]:
    """Both variants exported by `match-inspector export-onnx` into a temporary folder."""
    from core.cli import run_cli

    folder = tmp_path_factory.mktemp("onnx")
    models = {}
    for variant in ("full", "opt"):
        models[variant] = folder / f"eloftr-{variant}.onnx"
        assert (
            run_cli(["export-onnx", "--weights", random_weights, "--variant", variant, "-o", str(models[variant])]) == 0
        )
    return models
