import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No network in tests, and an empty Hugging Face cache: "no weights available" is the state tests start from.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf-home-")

import pytest

try:
    import torch

    # Random weights push CPU activations into float32 denormals (3-4x slower); flushing them keeps tests fast and
    # does not change results at the tolerances checked.
    torch.set_flush_denormal(True)
except ImportError:  # pragma: no cover
    torch = None


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """QSettings and the Hugging Face cache point at temporary folders: tests never touch the user's."""
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
