"""Cancel with the real matcher in its child process: "cancelling…" at once, back to idle within half a second."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from core.analysis.synthetic import textured_scene, warp
from core.errors import MatchCancelled
from core.types import MatchOptions
from tests.gui.conftest import wait_idle

CANCEL_WITHIN = 0.5  # seconds from the click to the window being idle again


def _pair_files(tmp_path, height: int, width: int) -> list[str]:
    scene = textured_scene(height, width, 8)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    Image.fromarray(scene).save(paths[0])
    Image.fromarray(warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))).save(paths[1])
    return [str(p) for p in paths]


def test_cancel_during_the_backbone_of_a_1024_run(make_window, qtbot, tmp_path, random_weights):
    window = make_window(None)  # the real matcher, in its child process
    controls, status = window.controls, window.statusBar()
    controls.matcher.setCurrentIndex(controls.matcher.findData("eloftr"))
    controls.weights.setText(random_weights)
    controls.weights.editingFinished.emit()
    controls.resolution.setCurrentIndex(controls.resolution.findText("long side 1024"))
    window.drop_files(_pair_files(tmp_path, 768, 1024))
    # The first run imports torch and loads the weights in the child, then reports the backbone's blocks.
    qtbot.waitUntil(lambda: status.currentMessage().startswith("backbone"), timeout=180000)
    assert controls.cancel_button.isEnabled()
    clicked = time.perf_counter()
    qtbot.mouseClick(controls.cancel_button, Qt.MouseButton.LeftButton)
    # Said at once, in the same turn of the event loop as the click.
    assert status.currentMessage() == "cancelling…"
    assert not controls.cancel_button.isEnabled()
    qtbot.waitUntil(window.is_idle, timeout=5000)
    latency = time.perf_counter() - clicked
    assert latency < CANCEL_WITHIN, f"back to idle {latency:.2f} s after the click"
    assert status.currentMessage().startswith("Matching cancelled"), status.currentMessage()
    assert controls.run_button.isEnabled() and not controls.cancel_button.isEnabled()
    assert window.model.result is None and not window.run_status.progress.isVisible()
    # The next run works (in the same process, or a fresh one when the cancel had to end it).
    controls.resolution.setCurrentIndex(controls.resolution.findText("long side 480"))
    qtbot.mouseClick(controls.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=180000)
    assert window.model.result is not None, window.last_error
    assert window.model.result.info.inference_sizes == ((352, 480), (352, 480))


def test_an_exported_model_run_is_ended_with_its_process(random_weights):
    """ONNX Runtime runs the whole graph in one call: Cancel ends the child at once instead of waiting for it."""
    pytest.importorskip("onnxruntime")
    from gui.match_process import MatchProcess

    process = MatchProcess()
    image = textured_scene(240, 320, 1)
    options = MatchOptions(weights=random_weights, backend="onnxruntime", long_side=320)
    asked = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            process(image, image, options, progress=lambda *_: asked.set(), cancelled=lambda: asked.is_set())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    try:
        thread = threading.Thread(target=run)
        thread.start()
        assert asked.wait(120), "the child reported nothing"
        asked_at = time.perf_counter()
        thread.join(5)
        assert time.perf_counter() - asked_at < CANCEL_WITHIN, f"took {time.perf_counter() - asked_at:.2f} s"
        assert len(outcome) == 1 and isinstance(outcome[0], MatchCancelled), outcome
        assert "process was ended" in str(outcome[0])
        assert not process._alive()
        # A later run starts a fresh child.
        result = process(image, image, MatchOptions(matcher="sift"))
        assert len(result) > 0
    finally:
        process.shutdown()
