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
            "--no-cache",  # no .import_linter_cache / .grimp_cache written into the checkout
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
    assert "core's layers: each imports only the layers below it KEPT" in out.stdout


def _copy_sources(destination: Path) -> None:
    for name in ("core", "gui", "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, destination / name)


def _assert_probe_breaks(root: Path, probe: str, imported: str, contract: str) -> None:
    """A module `probe` (a/b/c, in a copy of the sources at `root`) that imports `imported` breaks `contract`."""
    _copy_sources(root)
    name = imported.rsplit(".", 1)[1]
    (root / f"{probe}.py").write_text(f"def run():\n    from {imported.rsplit('.', 1)[0]} import {name}\n")
    out = _lint_imports(root)
    assert out.returncode != 0
    assert f"{contract} BROKEN" in out.stdout
    assert f"{probe.replace('/', '.')} -> {imported.rsplit('.', 1)[0]}" in out.stdout


def test_core_layers_refuse_an_import_from_a_layer_above(tmp_path):
    contract = "core's layers: each imports only the layers below it"
    _assert_probe_breaks(tmp_path, "core/analysis/probe", "core.runs.open.open_run", contract)


def _import_cycles(package: str) -> list[list[str]]:
    """Groups of modules of `package` that import each other, directly or through others (Tarjan's algorithm)."""
    import grimp

    graph = grimp.build_graph(package, cache_dir=None)
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d.startswith(package)} for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in edges.get(module, ()):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_core_has_no_import_cycles(tmp_path, monkeypatch):
    assert _import_cycles("core") == []
    _copy_sources(tmp_path)
    (tmp_path / "core" / "analysis" / "cycle_a.py").write_text("from core.analysis import cycle_b\n")
    (tmp_path / "core" / "analysis" / "cycle_b.py").write_text("from core.analysis import cycle_a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "core" or m.startswith("core.")]:
        monkeypatch.delitem(sys.modules, name)
    assert _import_cycles("core") == [["core.analysis.cycle_a", "core.analysis.cycle_b"]]


def test_layering_contract_catches_a_transitive_torch_import(tmp_path):
    """A gui module reaching torch through core (not importing it itself) breaks the contract."""
    contract = "gui never imports torch, on any path"
    _assert_probe_breaks(tmp_path, "gui/views/probe", "core.matchers.match.match_pair", contract)
