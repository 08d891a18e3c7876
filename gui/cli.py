"""`match-inspector`: the window (optionally with a pair), a matching run to browse, or the headless commands.

Exit codes: 0 done; 2 bad usage, or the window cannot open here (no display, a missing system library), one line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def display_problem() -> str | None:
    """Why the window cannot open here, or None. Qt aborts the process without a display; we say it first."""
    if sys.platform in ("win32", "darwin"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in HEADLESS_PLATFORMS or os.environ.get("WAYLAND_DISPLAY"):
        return None
    display = os.environ.get("DISPLAY", "")
    if not display:
        return "no display (DISPLAY is not set)"
    if display.startswith(":"):  # a local X server listens on its socket
        number = display[1:].split(".")[0]
        if number.isdigit() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return f"no X server answers on display {display}"
    return None


# core's command line, in a process that opens no window
HEADLESS_COMMANDS = ("match", "batch", "compare", "matchers", "export-onnx", "prepare-backends", "tracks")
COMMANDS = (*HEADLESS_COMMANDS, "browse")
USAGE = (
    "usage: match-inspector [IMAGE0 IMAGE1]        open the inspector window (with a pair)\n"
    "       match-inspector match IMG0 IMG1 -o OUT  match one pair headless (see: match --help)\n"
    "       match-inspector batch --pairs FILE ...  match many pairs (see: batch --help)\n"
    "       match-inspector compare IMG0 IMG1       several matchers side by side (see: compare --help)\n"
    "       match-inspector browse RUN [--images D]  browse a COLMAP database, hloc files or batch folder\n"
    "       match-inspector matchers                list the matchers and whether each runs here\n"
    "       match-inspector export-onnx -o OUT.onnx  export the matcher to ONNX (see: export-onnx --help)\n"
    "       match-inspector prepare-backends         check the faster backends once, for --backend auto\n"
    "       match-inspector tracks RUN -o REPORT.json  tracks across a run: lengths, conflicts, triangulation\n"
    "       match-inspector --version"
)


def _window_problem() -> str | None:
    """Why the window cannot open here, as the sentence to print, or None."""
    problem = display_problem()
    if problem is not None:
        return (
            f"the window needs a display, and there is {problem}. "
            "Without one, use `match-inspector match IMG0 IMG1 -o OUT.csv` (or `batch`; see --help)."
        )
    from .qt_libraries import qt_problem

    return qt_problem()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in HEADLESS_COMMANDS:
        from core.cli import run_cli

        return run_cli(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv == ["--version"]:
        from core.version import __version__

        print(f"match-inspector {__version__}")
        return 0
    browse = bool(argv) and argv[0] == "browse"
    if browse and any(a in ("-h", "--help") for a in argv[1:]):
        from .browse_command import build_parser

        try:
            build_parser().parse_args(["--help"])
        except SystemExit as done:  # argparse printed the help
            return int(done.code or 0)
    if not browse and (len(argv) > 2 or any(a.startswith("-") for a in argv)):
        print(
            f"match-inspector: give at most two image paths, or a command ({', '.join(COMMANDS)}); see --help",
            file=sys.stderr,
        )
        return 2
    problem = _window_problem()
    if problem is not None:
        print(f"match-inspector: {problem}", file=sys.stderr)
        return 2
    if browse:
        from .browse_command import run_browse

        return run_browse(argv[1:])
    from .app import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
