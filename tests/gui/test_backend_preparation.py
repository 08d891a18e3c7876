"""The window prepares a faster backend in the background after a run that had to use PyTorch, once per options,
and says in the status bar what later runs will use (or why PyTorch stays)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.cli import build_parser
from core.types import MatchOptions, MatchResult, RunInfo
from gui.controllers import backend_preparation
from gui.controllers.feedback import Feedback


def _result(preparable: bool) -> MatchResult:
    info = RunInfo("eloftr", "w", "cpu", "fp32", ((480, 640), (480, 640)), 0.05, backend="torch")
    info = replace(info, backend_preparable=preparable, backend_reason="PyTorch this time: …")
    empty = np.zeros((0, 2), np.float32)
    return MatchResult(empty, empty, np.zeros(0, np.float32), ((480, 640), (480, 640)), info)


def _preparation(messages: list[str]) -> backend_preparation.BackendPreparation:
    feedback = Feedback(lambda *a: None, lambda text, ms: messages.append(text), lambda text: None, None)
    return backend_preparation.BackendPreparation(feedback)


def test_the_command_is_one_the_cli_accepts():
    options = MatchOptions(weights="some/folder", variant="opt", precision="bf16")
    arguments = backend_preparation.prepare_command(options)
    assert arguments[:2] == ["-m", "core.cli"]
    parsed = build_parser().parse_args(arguments[2:])
    assert (parsed.command, parsed.weights, parsed.variant, parsed.precision) == (
        "prepare-backends",
        "some/folder",
        "opt",
        "bf16",
    )
    assert parsed.low_priority


def test_prepared_once_in_the_background_and_the_status_says_what_runs_next(qtbot, monkeypatch):
    line = "--backend auto runs openvino: openvino: fastest with PyTorch's matches on the probe pair"
    monkeypatch.setattr(backend_preparation, "prepare_command", lambda options: ["-c", f"print({line!r})"])
    messages: list[str] = []
    preparation = _preparation(messages)
    preparation.result_arrived(_result(preparable=False), MatchOptions())
    assert not preparation.running and messages == []  # nothing to prepare: PyTorch was asked for or is best
    with qtbot.waitSignal(preparation.finished, timeout=20000) as done:
        preparation.result_arrived(_result(preparable=True), MatchOptions())
        assert preparation.running and "Preparing a faster backend" in messages[-1]
    assert done.args == [True, line]
    assert messages[-1].startswith("Backend checked: next runs use openvino")
    preparation.result_arrived(_result(preparable=True), MatchOptions())  # the same options: not again
    assert not preparation.running
    preparation.result_arrived(_result(preparable=True), MatchOptions(variant="opt"))  # other options: again
    assert preparation.running
    preparation.shutdown()
    assert not preparation.running


def test_a_failed_preparation_says_pytorch_stays(qtbot, monkeypatch):
    script = "import sys; print('match-inspector: cannot create the model cache folder', file=sys.stderr); sys.exit(2)"
    monkeypatch.setattr(backend_preparation, "prepare_command", lambda options: ["-c", script])
    messages: list[str] = []
    preparation = _preparation(messages)
    with qtbot.waitSignal(preparation.finished, timeout=20000) as done:
        preparation.result_arrived(_result(preparable=True), MatchOptions())
    assert done.args[0] is False and "cannot create the model cache folder" in done.args[1]
    assert "PyTorch stays in use" in messages[-1]
