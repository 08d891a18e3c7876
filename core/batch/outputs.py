"""What `match-inspector batch` leaves in its output folder, and the check that lets a re-run skip finished pairs.

OUT/pairs/NAME0__NAME1.{npz,json,csv}: one match file per pair; OUT/pairs_matched.txt and OUT/failed_pairs.txt: the
lists; OUT/features.h5 + matches.h5 (hloc) or OUT/database.db (COLMAP): the collection built from the pair files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ExportError
from core.formats.files import write_atomically
from core.formats.images import stored_size, to_stored_frame
from core.formats.match_files import read_matches

FAILED_PAIRS = "failed_pairs.txt"
MATCHED_PAIRS = "pairs_matched.txt"
COLLECTION_FILES = {"hloc": ("features.h5", "matches.h5"), "colmap": ("database.db",)}
PAIR_FORMATS = ("npz", "json", "csv")  # the collections are built from .npz pair files


@dataclass(frozen=True)
class PairJob:
    name0: str  # relative to the batch's image folder
    name1: str

    @property
    def stem(self) -> str:
        return f"{self.name0.replace('/', '-')}__{self.name1.replace('/', '-')}"


def pair_suffix(fmt: str) -> str:
    return "." + fmt if fmt in PAIR_FORMATS else ".npz"


def pair_path(out: Path, job: PairJob, fmt: str) -> Path:
    return out / "pairs" / (job.stem + pair_suffix(fmt))


def targets(out: Path, fmt: str) -> list[Path]:
    """Every file the batch writes besides the pair files: checked writable before any matching."""
    return [out / name for name in (FAILED_PAIRS, MATCHED_PAIRS, *COLLECTION_FILES.get(fmt, ()))]


def is_reusable(path: Path, job: PairJob, options: dict[str, Any]) -> bool:
    """A pair output written before counts as done only if it reads back whole, is this pair, and was made with
    these options; anything else (empty, truncated, another run's file) is matched again."""
    if not path.is_file():
        return False
    try:
        done = read_matches(path)
    except ExportError:
        return False
    record = done.provenance
    same_options = json.loads(json.dumps(options)) == record.get("options")
    return record.get("image0") == job.name0 and record.get("image1") == job.name1 and same_options


def _write_text(path: Path, text: str) -> None:
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text))
    except OSError as exc:
        raise ExportError(f"cannot write {path.name}: {exc.strerror or exc}") from exc


def write_lists(out: Path, written: Sequence[PairJob], failures: Sequence[tuple[PairJob, str]]) -> None:
    """pairs_matched.txt: the pairs that have outputs (the pairs file to give hloc or COLMAP); failed_pairs.txt:
    what failed and why, in the pairs-file format (reasons as comments), so it can be fed back after a fix."""
    _write_text(out / MATCHED_PAIRS, "".join(f"{job.name0} {job.name1}\n" for job in written))
    failed = "".join(f"# {reason}\n{job.name0} {job.name1}\n" for job, reason in failures)
    _write_text(out / FAILED_PAIRS, failed)


def is_detector_based(provenance: dict[str, Any]) -> bool:
    """The pair file was made by a detector-based matcher (all of a batch's files are made with the same options)."""
    from core.matchers.registry import DETECTOR_BASED

    return str(dict(provenance.get("options") or {}).get("matcher", "")) in DETECTOR_BASED


def write_collection(jobs: Sequence[PairJob], out: Path, fmt: str) -> None:
    """hloc/COLMAP files from the pair outputs, in the stored pixel frame those tools read."""
    from core.formats.hloc import PairMatches

    pairs, sizes = [], {}
    detector_based = False
    for job in jobs:
        data = read_matches(pair_path(out, job, fmt))
        detector_based = is_detector_based(data.provenance)
        kpts = []
        for side, (keypoints, name) in enumerate(((data.kpts0, job.name0), (data.kpts1, job.name1))):
            orientation = int(data.provenance.get(f"image{side}_exif_orientation", 1))
            shown = data.image_sizes()[side]
            kpts.append(to_stored_frame(keypoints, orientation, shown).astype(np.float32))
            sizes[name] = stored_size(orientation, shown)
        pairs.append(PairMatches(job.name0, job.name1, kpts[0], kpts[1], data.scores))
    try:
        if fmt == "hloc":
            from core.formats.hloc import write_hloc

            write_hloc(pairs, out / "features.h5", out / "matches.h5", sizes, detector_based)
        else:
            from core.formats.colmap import write_colmap

            write_colmap(pairs, out / "database.db", sizes, detector_based)
    except OSError as exc:
        raise ExportError(f"cannot write the {fmt} files in {out}: {exc.strerror or exc}") from exc
