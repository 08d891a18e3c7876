from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.analysis.synthetic import textured_scene
from tests.gui.fakes import FakeMatcher


@pytest.fixture
def image_files(tmp_path) -> list[Path]:
    paths = []
    for index, (h, w) in enumerate(((240, 320), (240, 320), (300, 200), (180, 260))):
        path = tmp_path / f"img{index}.png"
        Image.fromarray(textured_scene(h, w, 40 + index)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def make_window(qtbot):
    from gui.main_window import MainWindow

    created = []

    def make(matcher="fake") -> MainWindow:
        """matcher: a match function, "fake" (a FakeMatcher) or None (the real core.matchers.match.match_pair)."""
        window = MainWindow(FakeMatcher() if matcher == "fake" else matcher)
        qtbot.addWidget(window)
        window.show()
        created.append(window)
        return window

    yield make
    for window in created:
        window.shutdown()


def wait_idle(qtbot, window, timeout: int = 20000) -> None:
    """Until nothing is decoding, matching, fitting, comparing or writing."""
    qtbot.waitUntil(window.is_idle, timeout=timeout)


def load(qtbot, window, path0, path1, run: bool = True, timeout: int = 20000) -> None:
    """Open a pair as File > Open pair does, and wait for decoding (and the run) to finish."""
    window.load_pair(str(path0), str(path1), run=run)
    wait_idle(qtbot, window, timeout)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
