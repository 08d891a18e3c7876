"""`python -m core.tracks.build_process RUN IMAGE_DIR MODEL CONFLICT_PX OUT`: one track build in a process of its own.

The window runs it so that the build's long single calls (scipy's connected components, sparse matrix conversion,
KD-tree) never hold its interpreter lock: its event loop stays free; the process lowers its own priority, so on a
busy machine the window's thread is scheduled first. IMAGE_DIR and MODEL are "-" for none. Prints one
line per stage ("stage TEXT"), then writes the build into the folder OUT (core.tracks.stored). Exit codes: 0 done; 2
the run or model cannot be read (one line on stderr, for the user); 1 anything else.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.runs.base import RunOpenError
from core.runs.open import open_run
from core.tracks.build import build_tracks
from core.tracks.options import TrackOptions
from core.tracks.stored import save_built


def main(argv: list[str]) -> int:
    run_path, image_dir, model, conflict_px, out = argv
    if hasattr(os, "nice"):
        os.nice(10)  # background work: on a busy machine the window's event loop gets the processor first

    def stage(text: str) -> None:
        print(f"stage {text}", flush=True)

    try:
        with open_run(run_path, None if image_dir == "-" else image_dir) as run:
            options = TrackOptions(conflict_px=float(conflict_px))
            built = build_tracks(run, options, None if model == "-" else Path(model), stage=stage)
    except RunOpenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    stage("handing over")
    save_built(built, Path(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
