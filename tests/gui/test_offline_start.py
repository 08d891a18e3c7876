"""A first launch in offline mode (HF_HUB_OFFLINE) without cached EfficientLoFTR weights, as the tests run.

The window says so at once and matches with the offline default (core.matchers.registry) meanwhile; choosing
EfficientLoFTR anyway fails with the words of what the user chose ("offline mode"), not "the Hub cannot be
reached"; the message offers the offline default with one click."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.default_weights import hub_weights_cached
from core.matchers.registry import default_matcher, matcher_spec
from core.types import MatchOptions
from gui.settings import open_settings
from tests.gui.conftest import load
from tests.gui.test_geometry_settings import choose


@pytest.fixture(autouse=True)
def offline_without_weights():
    assert os.environ.get("HF_HUB_OFFLINE") == "1" and not hub_weights_cached()  # set by tests/conftest.py


def test_first_offline_launch_hints_at_once_and_matches_with_the_offline_default(
    make_window, qtbot, image_files, monkeypatch
):
    window = make_window(None)  # the real matcher
    name, _ = default_matcher(MatchOptions())
    assert name != "eloftr"
    bar = window.message_bar
    assert bar.isVisible(), "the hint comes before any run"
    text = bar.label.text()
    assert "Offline mode (HF_HUB_OFFLINE)" in text and "not in the local cache" in text
    assert f"matching uses {matcher_spec(name).label} meanwhile" in text
    assert window.controls.matcher.currentData() == name
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *args: shown.append(args[2]))
    load(qtbot, window, image_files[0], image_files[1], timeout=120000)
    assert window.model.result is not None and window.model.result.info.matcher == name, window.last_error
    assert bar.isVisible() and bar.label.text() == text, "the hint stays through the first run"
    qtbot.mouseClick(bar.action, Qt.MouseButton.LeftButton)
    assert shown and "hf download" in shown[0]


def test_the_stand_in_is_not_saved_as_the_users_choice(make_window, qtbot):
    window = make_window(None)
    assert window.controls.matcher.currentData() == default_matcher(MatchOptions())[0]
    window.close()
    saved = open_settings().value("model/match_options")
    assert '"matcher": "eloftr"' in saved, "the next launch (weights cached by then) starts with EfficientLoFTR"


def test_choosing_eloftr_offline_fails_with_offline_words(make_window, qtbot, image_files):
    window = make_window(None)
    load(qtbot, window, image_files[0], image_files[1], run=False)
    choose(window.controls.matcher, "eloftr")
    qtbot.mouseClick(window.controls.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.is_idle() and "weights" in window.last_error, timeout=120000)
    text = window.message_bar.label.text()
    assert "offline mode (HF_HUB_OFFLINE) is on" in text and "cannot be reached" not in text, text
    # One click on the offer: the offline default runs, and the status bar says which matcher it was.
    name, why = default_matcher(window.model.match_options)
    assert name != "eloftr" and "no EfficientLoFTR weights found locally" in why
    assert window.message_bar.action.text() == f"Use {matcher_spec(name).label}"
    qtbot.mouseClick(window.message_bar.action, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.is_idle() and window.model.result is not None, timeout=120000)
    assert window.model.result.info.matcher == name and window.controls.matcher.currentData() == name
    assert window.run_status.info.text().startswith(f"{name} · ")
