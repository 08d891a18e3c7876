"""`match-inspector`: the window (optionally with a pair), or the headless `match` and `batch` commands."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("match", "batch", "export-onnx"):
        from core.cli import run_cli

        return run_cli(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(
            "usage: match-inspector [IMAGE0 IMAGE1]        open the inspector window (with a pair)\n"
            "       match-inspector match IMG0 IMG1 -o OUT  match one pair headless (see: match --help)\n"
            "       match-inspector batch --pairs FILE ...  match many pairs (see: batch --help)\n"
            "       match-inspector export-onnx -o OUT.onnx export the matcher to ONNX (see: export-onnx --help)"
        )
        return 0
    if len(argv) > 2 or any(a.startswith("-") for a in argv):
        print("match-inspector: give at most two image paths (or a command: match, batch; --help)", file=sys.stderr)
        return 2
    from .app import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
