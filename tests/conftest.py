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
