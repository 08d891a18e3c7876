"""The settings that decide a pair's output file, written once: `match` and `batch` build one, the file's provenance
records it, and resume compares that record, so what is recorded cannot drift from what ran."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from core.analysis.geometry import GeometryOptions
from core.types import MatchOptions

# MatchOptions fields that change how a run goes, not which matches it writes (float rounding aside).
NOT_DECIDING_OUTPUT = frozenset({"device", "fuse", "local_files_only"})


@dataclass(frozen=True)
class OutputSettings:
    match: MatchOptions
    threshold: float  # matches with a score below it are not written
    geometry: GeometryOptions | None  # the model fitted to flag inliers, when asked for
    apply_exif: bool  # match the upright images (EXIF orientation applied) or the stored pixels

    def record(self) -> dict[str, Any]:
        """JSON-ready: every field that decides the output, as it ran. The EfficientLoFTR model's options are
        recorded for it only; the other matchers decide their output by their name and the detection size."""
        if self.match.matcher != "eloftr":
            matcher: dict[str, Any] = {
                "matcher": self.match.matcher,
                "long_side": self.match.long_side,
                "size": _json_ready(self.match.size),
            }
        else:
            matcher = {
                field.name: _json_ready(getattr(self.match, field.name))
                for field in fields(MatchOptions)
                if field.name not in NOT_DECIDING_OUTPUT
            }
        return {
            **matcher,
            "threshold": self.threshold,
            "geometry": asdict(self.geometry) if self.geometry is not None else None,
            "exif": self.apply_exif,
        }


def _json_ready(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
