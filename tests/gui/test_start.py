"""Starting the app: no display, version, and the bundled files found as package data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_display_it_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-c", "from gui.cli import main; import sys; sys.exit(main())"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "needs a display" in done.stderr and "match-inspector match" in done.stderr


def test_a_display_that_does_not_answer_is_named(monkeypatch):
    from gui.cli import display_problem

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("DISPLAY", ":987")
    assert display_problem() == "no X server answers on display :987"
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert display_problem() is None


def test_bundled_files_are_found_and_a_missing_one_is_an_error():
    from resources import ResourceMissing, resource_path

    for name in ("style.qss", "sample_pair_0.png", "sample_pair_1.png"):
        assert resource_path(name).is_file()
    with pytest.raises(ResourceMissing, match="no-such.qss"):
        resource_path("no-such.qss")


def test_the_weights_help_text_comes_without_torch():
    script = (
        "import sys; from core.weights_help import HOW_TO_GET_WEIGHTS; "
        "from core.model.weights import HOW_TO_GET_WEIGHTS as OLD; "
        "assert 'hf download' in HOW_TO_GET_WEIGHTS; "
        "print('torch' in sys.modules)"
    )
    torch_free = "import sys; import core.weights_help; print('torch' in sys.modules)"
    for code, expected in ((torch_free, "False"), (script, "True")):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == expected, done.stderr
