"""The layering rules: core never imports Qt; gui never imports torch; the window appears before torch loads."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_core_never_imports_qt():
    offenders = {
        f: n & {"PySide6", "pyqtgraph", "PyQt5", "PyQt6", "shiboken6"} for f, n in _imported_modules("core").items()
    }
    assert {f: n for f, n in offenders.items() if n} == {}


def test_gui_never_imports_torch():
    offenders = {f: n & {"torch", "transformers", "kornia"} for f, n in _imported_modules("gui").items()}
    assert {f: n for f, n in offenders.items() if n} == {}


def test_window_is_shown_without_importing_torch():
    script = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "import tempfile; os.environ['MATCH_INSPECTOR_SETTINGS_DIR'] = tempfile.mkdtemp();"
        "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "import gui.cli, gui.app; from gui.main_window import MainWindow;"
        "w = MainWindow(); w.show(); app.processEvents();"
        "w.load_pair('resources/sample_pair_0.png', 'resources/sample_pair_1.png', run=False); app.processEvents();"
        "assert w.isVisible(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_layering_contracts_hold_transitively():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "gui never imports torch, on any path KEPT" in out.stdout


def test_layering_contract_catches_a_transitive_torch_import(tmp_path):
    """A gui module reaching torch through core (not importing it itself) breaks the contract."""
    for name in ("core", "gui", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "gui" / "views" / "probe.py").write_text("def run():\n    from core.matching import match_pair\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert "gui never imports torch, on any path BROKEN" in out.stdout
    assert "gui.views.probe -> core.matching" in out.stdout
