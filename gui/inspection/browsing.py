"""The browsing context, Qt-free: the one owner of which context the window is in and what a browsed run brings.

`mode` is "pair" (a plain pair session) or "browse" (a matching run is open); each keeps its own saved settings.
In "browse" the context holds the open run, the reference poses beside it (if any) and the focal length the user
typed for it: a setting of this context, passed to the run's readers when a pair is read, never written on the run.
Opening another run starts with no typed focal length; closing the run returns to the plain context with no run.

A field change emits `events.<field>(new, old)`. Opening emits in an order listeners can rely on: `mode` first
(the window swaps saved settings), then `run` None (views drop the old run), `reference` and `focal_px`, then
`run` with the new run, when everything it comes with is already in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from psygnal import SignalGroupDescriptor

from core.runs.base import MatchingRun, StoredPair
from core.runs.reference_poses import ReferencePoses

Mode = Literal["pair", "browse"]


@dataclass
class BrowsingContext:
    mode: Mode = "pair"
    run: MatchingRun | None = None
    reference: ReferencePoses | None = None  # poses to compare estimated poses with (a COLMAP model)
    focal_px: float | None = None  # typed in: overrides the run's cameras and EXIF for every image

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    def open(self, run: MatchingRun, reference: ReferencePoses | None = None, focal_px: float | None = None) -> None:
        """Browse `run` (the previous run, if any, is closed)."""
        self.mode = "browse"
        self._drop_run()
        self.reference = reference
        self.focal_px = focal_px
        self.run = run

    def close(self) -> None:
        """Close the run and return to the plain pair context."""
        self._drop_run()
        self.reference = None
        self.focal_px = None
        self.mode = "pair"

    def read_pair(self, index: int) -> StoredPair:
        """Pair `index` of the open run, with the typed focal length (raises RunOpenError for damaged data)."""
        if self.run is None:
            raise LookupError("no matching run is open")
        return self.run.read_pair(index, self.focal_px)

    def release(self) -> None:
        """Close the run's files without changing the context (the window is going away)."""
        if self.run is not None:
            self.run.close()

    def _drop_run(self) -> None:
        previous = self.run
        self.run = None  # listeners stop their work on it first
        if previous is not None:
            previous.close()
