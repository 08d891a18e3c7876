"""`python -m core.tracks.build_process RUN IMAGE_DIR MODEL CONFLICT_PX OUT`: one track build in a process of its own.

The window runs it so that the build's long single calls (scipy's connected components, sparse matrix conversion,
KD-tree) never hold its interpreter lock: its event loop stays free; the process lowers its own priority, so on a
busy machine the window's thread is scheduled first. IMAGE_DIR and MODEL are "-" for none. Prints one
line per stage ("stage TEXT") and one per note for the user ("note TEXT": a model beside the run that cannot be
read is left out), then writes the build into the folder OUT (core.tracks.stored). Exit codes: 0 done; 2
the run or model cannot be read (one line on stderr, for the user); 1 anything else.
"""

from __future__ import annotations

import os

if __name__ == "__main__" and hasattr(os, "nice"):
    # Background work, from its first import on: on a busy machine the window's event loop gets the processor first.
    os.nice(10)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from core.runs.base import RunOpenError  # noqa: E402
from core.runs.open import open_run  # noqa: E402
from core.tracks.build import build_tracks  # noqa: E402
from core.tracks.options import TrackOptions  # noqa: E402
from core.tracks.reconstruction import read_model  # noqa: E402
from core.tracks.stored import save_built  # noqa: E402


def main(argv: list[str]) -> int:
    run_path, image_dir, model, conflict_px, out = argv

    def stage(text: str) -> None:
        print(f"stage {text}", flush=True)

    try:
        points = None
        if model != "-":
            try:
                stage("reading the model")
                points = read_model(Path(model))
            except RunOpenError as exc:  # the model found beside the run is extra: the tracks come without it
                print(f"note {exc}", flush=True)
        with open_run(run_path, None if image_dir == "-" else image_dir) as run:
            options = TrackOptions(conflict_px=float(conflict_px))
            built = build_tracks(run, options, points, stage=stage)
    except RunOpenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    stage("handing over")
    save_built(built, Path(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
