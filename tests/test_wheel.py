"""A regular install behaves like the editable one: build a wheel, install it into a fresh virtual environment
(over the packages of the environment running the tests, without dependencies), and use it from outside the source
tree."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "core", "gui", "resources")

OPEN_SAMPLE_PAIR = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from resources import resource_path
app.setStyleSheet(resource_path("style.qss").read_text())
from gui.main_window import MainWindow
window = MainWindow()
window.open_sample_pair()
import time
deadline = time.monotonic() + 60
while None in window.model.paths() and time.monotonic() < deadline:  # images may load off the GUI thread
    app.processEvents()
    time.sleep(0.02)
print("\\n".join(str(p) for p in window.model.paths()))
import core, gui, resources
print(core.__file__, gui.__file__, resources.__file__, sep="\\n")
sys.stdout.flush()
import os
os._exit(0)  # no waiting for a model run the sample pair may have started
"""


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done


def _see_the_test_environment(python: Path) -> None:
    """Let the new venv import the dependencies of the environment running the tests (itself often a virtualenv:
    `--system-site-packages` would reach the base interpreter's packages instead). A .pth of plain paths adds the
    folders without running their own .pth files, so this source tree's editable install stays out of sight."""
    inner = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    outer = dict.fromkeys([*site.getsitepackages(), site.getusersitepackages()])
    Path(inner, "test-environment.pth").write_text("".join(f"{folder}\n" for folder in outer))


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_source_tree(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=ignore)
        else:
            shutil.copy2(src, source / name)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source)])
    (wheel,) = dist.glob("match_inspector-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _see_the_test_environment(python)
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)])

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    lines = _run([str(python), "-c", OPEN_SAMPLE_PAIR], cwd=outside, env=env).stdout.split()
    sample0, sample1, *modules = lines
    site = str(venv.resolve())
    assert all(str(Path(m).resolve()).startswith(site) for m in modules), f"imported from {modules}"
    assert Path(sample0).name == "sample_pair_0.png" and Path(sample1).name == "sample_pair_1.png"
    assert str(Path(sample0).resolve()).startswith(site), "the sample pair comes from the installed package"

    out = outside / "sample.csv"
    _run(
        [str(venv / "bin" / "match-inspector"), "match", sample0, sample1, "-o", str(out), "--matcher", "sift"],
        cwd=outside,
        env=env,
    )
    assert len(out.read_text().splitlines()) > 50
    version = _run([str(venv / "bin" / "match-inspector"), "--version"], cwd=outside, env=env).stdout.strip()
    assert version.startswith("match-inspector ")
