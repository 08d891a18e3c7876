"""The per-pair files of `match-inspector batch` (OUT/pairs/*.npz|json|csv), opened as a matching run.

Each file names its images (relative to the batch's image folder) and sizes in its provenance, and holds inlier flags
when the batch ran with --geometry. Opening reads every file once for its counts; a pair's matches are read again
when it is shown, so memory stays small. core.formats.match_files.read_matches checks each file's arrays and sizes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.formats.match_files import CSV_PROVENANCE_SUFFIX, FORMATS, ExportError, MatchFile, read_matches
from core.runs.base import UNKNOWN, MatchingRun, PairRows, RunImage, RunOpenError, StoredPair
from core.types import MatchResult, RunInfo


class BatchFolderRun(MatchingRun):
    kind = "match-inspector batch"
    exif_applied = True  # batch matches images upright unless run with --no-exif (not recorded in the files)

    def __init__(self, folder: Path, image_dir: Path | None) -> None:
        super().__init__(folder, image_dir)
        try:
            files = sorted(
                p
                for p in (folder / "pairs").iterdir()
                if p.suffix.lower() in FORMATS and not p.name.endswith(CSV_PROVENANCE_SUFFIX)  # a CSV's sidecar
            )
        except OSError as exc:
            raise RunOpenError(f"cannot list {folder / 'pairs'} ({exc.strerror or exc})") from exc
        if not files:
            raise RunOpenError(f"{folder / 'pairs'} holds no match files ({', '.join(FORMATS)})")
        sizes: dict[str, tuple[int, int] | None] = {}
        named: list[tuple[str, str]] = []
        matches, inliers = [], []
        for path in files:
            data = self._load(path)
            name0, name1 = str(data.provenance.get("image0") or ""), str(data.provenance.get("image1") or "")
            if not name0 or not name1:
                raise RunOpenError(f"{path.name}: its provenance does not name the two images")
            for name, size in zip((name0, name1), data.image_sizes()):  # [height, width] under either key
                sizes.setdefault(name, size if size != (0, 0) else None)
            named.append((name0, name1))
            matches.append(len(data.scores))
            inliers.append(int(np.count_nonzero(data.inliers)) if data.inliers is not None else UNKNOWN)
        names = sorted(sizes)
        index_of = {name: i for i, name in enumerate(names)}
        self.images = tuple(RunImage(name, sizes[name]) for name in names)
        self._files = files
        geometry = np.array(["" if count == UNKNOWN else "verified" for count in inliers], dtype=str)
        self.pairs = PairRows(
            np.array([index_of[a] for a, _ in named], np.int64),
            np.array([index_of[b] for _, b in named], np.int64),
            np.array(matches, np.int64),
            np.array(inliers, np.int64),
            geometry,
        )

    @staticmethod
    def _load(path: Path) -> MatchFile:
        try:
            return read_matches(path)
        except ExportError as exc:
            raise RunOpenError(str(exc)) from exc

    def _read_pair(self, index: int) -> StoredPair:
        path = self._files[index]
        data = self._load(path)
        i0, i1 = int(self.pairs.image0[index]), int(self.pairs.image1[index])
        size0, note0 = self.image_size(i0, data.kpts0)
        size1, note1 = self.image_size(i1, data.kpts1)
        try:
            info = RunInfo.from_dict(data.provenance, fallback_source=str(path))
        except (TypeError, ValueError, IndexError) as exc:  # a hand-edited provenance: any entry may be anything
            raise RunOpenError(f"{path.name}: its provenance does not describe a run ({exc})") from exc
        info = replace(info, notes=info.notes + tuple(n for n in (note0, note1) if n))
        # read_matches gives (N, 2) float32 points, float32 scores and bool inliers, all of one length
        result = MatchResult(data.kpts0, data.kpts1, data.scores, (size0, size1), info)
        name0, name1 = self.images[i0].name, self.images[i1].name
        return self.stored_pair(
            index,
            (name0, name1),
            result,
            data.inliers,
            str(self.pairs.geometry[index]),
            exif_applied=self.exif_applied,
        )
