"""Before the window: can Qt load here? A missing system library is named with the package that provides it,
instead of a Python traceback (QtGui's import) or Qt's abort (its platform plugin)."""

from __future__ import annotations

import ctypes
import importlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

# The Debian/Ubuntu packages of the system libraries PySide6's wheels do not ship (Qt's own list for xcb, plus what
# QtGui links), by the file name the loader reports.
DEBIAN_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
_MISSING = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*): cannot open shared object file")


def missing_library_message(loader_error: str) -> str | None:
    """One line naming the missing library and its package, from the loader's error text; None if it names none."""
    found = _MISSING.search(loader_error)
    if found is None:
        return None
    library = found.group(1)
    package = DEBIAN_PACKAGES.get(library)
    install = f"sudo apt-get install {package}" if package else "install the system package that provides it"
    return f"the window needs the system library {library}, which is missing: {install} (on Debian/Ubuntu)"


def platform_plugin_name() -> str | None:
    """The platform plugin Qt will load on Linux: QT_QPA_PLATFORM's first choice, else wayland or xcb as Qt
    picks them; None elsewhere (macOS and Windows plugins need no extra system libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    chosen = os.environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    return "wayland" if os.environ.get("WAYLAND_DISPLAY") else "xcb"


def _platform_plugin_folder() -> Path:
    """Where Qt looks for platform plugins: QT_QPA_PLATFORM_PLUGIN_PATH (Qt's own variable), else its plugins."""
    explicit = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if explicit:
        return Path(explicit)
    from PySide6.QtCore import QLibraryInfo

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"


def qt_problem(load_library: Callable[[str], object] = ctypes.CDLL) -> str | None:
    """Why Qt cannot start here, in one line, or None. Loads QtGui, then the platform plugin's shared library the
    way Qt will (so the loader reports the first missing dependency), without starting Qt."""
    try:
        importlib.import_module("PySide6.QtGui")
    except ImportError as exc:
        return missing_library_message(str(exc)) or f"Qt cannot be loaded: {exc}"
    name = platform_plugin_name()
    if name is None:
        return None
    folder = _platform_plugin_folder()
    plugin = folder / f"libq{name}.so"
    if not plugin.is_file():
        available = sorted(path.name[4:-3] for path in folder.glob("libq*.so"))
        return f"Qt has no platform plugin '{name}' (QT_QPA_PLATFORM); available: {', '.join(available)}"
    try:
        load_library(str(plugin))
    except OSError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return missing_library_message(str(exc)) or f"Qt's {name} platform plugin cannot be loaded: {first_line}"
    return None
