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
        "import sys; from core.default_weights import HOW_TO_GET_WEIGHTS; "
        "from core.model.weights import HOW_TO_GET_WEIGHTS as OLD; "
        "assert 'hf download' in HOW_TO_GET_WEIGHTS; "
        "print('torch' in sys.modules)"
    )
    torch_free = "import sys; import core.default_weights; print('torch' in sys.modules)"
    for code, expected in ((torch_free, "False"), (script, "True")):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == expected, done.stderr


def _run_main(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gui.cli import main; import sys; sys.exit(main())", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _plugin_needing_a_missing_library(folder: Path) -> str:
    """A copy of Qt's offscreen platform plugin whose list of needed libraries names one that exists nowhere (one
    byte of its name changed in the ELF string table): the dynamic loader refuses it as it would a plugin whose
    system library is not installed."""
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    data = (plugins / "libqoffscreen.so").read_bytes()
    needed, missing = b"libxkbcommon.so.0\x00", b"libxkbcommon.so.9\x00"
    assert data.count(needed) == 1, "the plugin names its xkbcommon library once"
    folder.mkdir()
    (folder / "libqoffscreen.so").write_bytes(data.replace(needed, missing))
    return missing[:-1].decode()


def test_a_missing_system_library_is_named_in_one_line_instead_of_a_crash(tmp_path):
    plugins = tmp_path / "platforms"
    library = _plugin_needing_a_missing_library(plugins)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugins)}
    done = _run_main([], env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"needs the system library {library}, which is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_loader_message_names_the_debian_package():
    from gui.qt_libraries import missing_library_message

    error = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"
    message = missing_library_message(error)
    assert message is not None and "libxcb-cursor.so.0" in message and "apt-get install libxcb-cursor0" in message
    imported = "libxkbcommon.so.0: cannot open shared object file: No such file or directory"  # QtGui's ImportError
    assert "apt-get install libxkbcommon0" in (missing_library_message(imported) or "")
    assert missing_library_message("undefined symbol: qt_version_tag") is None


def test_the_plugins_qt_will_load_here_pass_the_check(monkeypatch):
    from gui.qt_libraries import qt_problem

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.delenv("QT_QPA_PLATFORM_PLUGIN_PATH", raising=False)
    assert qt_problem() is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "nosuchplatform")
    assert "no platform plugin 'nosuchplatform'" in (qt_problem() or "")


@pytest.mark.parametrize("command", ["match", "batch", "export-onnx", "prepare-backends", "browse"])
def test_help_of_every_command_works_without_a_display(command):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = _run_main([command, "--help"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: match-inspector {command}"), done.stdout
    assert "display" not in done.stderr


def test_the_usage_message_lists_every_command():
    from gui.cli import COMMANDS

    done = _run_main(["--frobnicate"], dict(os.environ))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    for command in COMMANDS:
        assert command in done.stderr
    expected = {"match", "batch", "compare", "matchers", "browse", "export-onnx", "prepare-backends", "tracks"}
    assert set(COMMANDS) == expected
    listed = _run_main(["--help"], dict(os.environ)).stdout
    assert all(f"match-inspector {command}" in listed for command in COMMANDS)
