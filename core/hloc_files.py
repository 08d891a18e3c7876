"""hloc's features.h5 + matches.h5 (+ its pairs file), read as hloc reads them.

features.h5: one group per image name (names with "/" become nested groups) holding `keypoints` (N, 2) float32 in
our pixel convention (hloc adds COLMAP's 0.5 only when importing) and, when written, `image_size` (width, height).
matches.h5: one group per pair named by hloc's `names_to_pair` ("name0/name1", "/" inside names replaced by "-"),
holding `matches0` (index into image 1's keypoints for each keypoint of image 0, -1 for none) and
`matching_scores0`. Older files join the names with "_"; a pair may be stored in either order. hloc stores no
verified inliers (COLMAP verifies after import), so the inlier column stays unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .hloc_export import names_to_pair
from .matching_run import UNKNOWN, MatchingRun, PairRows, RunImage, RunOpenError, StoredPair
from .types import MatchResult, RunInfo


class HlocRun(MatchingRun):
    kind = "hloc features + matches"

    def __init__(self, features: Path, matches: Path, image_dir: Path | None, pairs_file: Path | None) -> None:
        super().__init__(matches, image_dir)
        import h5py

        self.features_path = features
        try:
            self._features = h5py.File(features, "r")
            self._matches = h5py.File(matches, "r")
        except OSError as exc:
            raise RunOpenError(f"cannot open {features.name} / {matches.name} as HDF5 files ({exc})") from exc
        try:
            self._load_index(pairs_file)
        except (KeyError, ValueError, OSError) as exc:
            self.close()
            raise RunOpenError(f"{matches.name}: {exc}") from exc

    def _load_index(self, pairs_file: Path | None) -> None:
        import h5py

        names: list[str] = []

        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and name.endswith("/keypoints"):
                names.append(name[: -len("/keypoints")])

        self._features.visititems(visit)
        if not names:
            raise ValueError(f"{self.features_path.name} holds no keypoints: not an hloc features file")
        names.sort()
        images = []
        for name in names:
            group = self._features[name]
            size = None
            if "image_size" in group:
                width, height = (int(v) for v in np.asarray(group["image_size"]).ravel()[:2])
                size = (height, width)
            images.append(RunImage(name, size))
        self.images = tuple(images)
        index_of = {name: i for i, name in enumerate(names)}
        # Pair group names replace "/" in image names by "-": map those back to the real names.
        self._by_flat_name = {name.replace("/", "-"): name for name in names}
        wanted = self._read_pairs_file(pairs_file) if pairs_file is not None else self._stored_pairs()
        rows0, rows1, counts, self._groups = [], [], [], []
        for name0, name1 in wanted:
            if name0 not in index_of or name1 not in index_of:
                missing = name0 if name0 not in index_of else name1
                raise ValueError(f"image {missing} of pair ({name0}, {name1}) has no keypoints in the features file")
            located = self._locate(name0, name1)
            if located is None:
                raise ValueError(f"pair ({name0}, {name1}) is not in the matches file")
            group, reverse = located
            rows0.append(index_of[name0])
            rows1.append(index_of[name1])
            counts.append(int(np.count_nonzero(np.asarray(self._matches[group]["matches0"]) > -1)))
            self._groups.append((group, reverse))
        count = len(rows0)
        self.pairs = PairRows(
            np.array(rows0, np.int64),
            np.array(rows1, np.int64),
            np.array(counts, np.int64),
            np.full(count, UNKNOWN, np.int64),
            np.full(count, "", dtype=str),
        )

    @staticmethod
    def _read_pairs_file(path: Path) -> list[tuple[str, str]]:
        pairs = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 2:
                raise ValueError(f"{path.name}:{number}: expected 'name0 name1', got '{line.strip()}'")
            pairs.append((parts[0], parts[1]))
        return pairs

    def _stored_pairs(self) -> list[tuple[str, str]]:
        """Every group of matches.h5 holding matches0, its name split back into the two image names."""
        import h5py

        found: list[tuple[str, str]] = []

        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset) and name.endswith("/matches0"):
                found.append(self._split_group_name(name[: -len("/matches0")]))

        self._matches.visititems(visit)
        return found

    def _split_group_name(self, group: str) -> tuple[str, str]:
        for separator in ("/", "_"):
            parts = group.split(separator)
            for cut in range(1, len(parts)):
                first, second = separator.join(parts[:cut]), separator.join(parts[cut:])
                if first in self._by_flat_name and second in self._by_flat_name:
                    return self._by_flat_name[first], self._by_flat_name[second]
        raise ValueError(f"pair group '{group}' names images that are not in the features file")

    def _locate(self, name0: str, name1: str) -> tuple[str, bool] | None:
        """hloc's find_pair: the group of the pair in either order, joined by "/" or (older files) "_"."""
        for first, second, reverse in ((name0, name1, False), (name1, name0, True)):
            current = names_to_pair(first, second)
            older = "_".join(current.split("/", 1))
            for group in (current, older):
                if group in self._matches and "matches0" in self._matches[group]:
                    return group, reverse
        return None

    def _read_pair(self, index: int) -> StoredPair:
        try:
            return self._read(index)
        except (KeyError, ValueError, OSError) as exc:
            raise RunOpenError(f"{self.source.name}: cannot read pair {index} ({exc})") from exc

    def _read(self, index: int) -> StoredPair:
        group, reverse = self._groups[index]
        i0, i1 = int(self.pairs.image0[index]), int(self.pairs.image1[index])
        image0, image1 = self.images[i0], self.images[i1]
        # matches0 runs over the keypoints of the image named first in the group
        stored0, stored1 = (image1, image0) if reverse else (image0, image1)
        matches0 = np.asarray(self._matches[group]["matches0"]).astype(np.int64)
        scores0 = np.asarray(self._matches[group]["matching_scores0"], np.float32)
        first = np.flatnonzero(matches0 > -1)
        pairs = np.column_stack([first, matches0[first]])
        scores = scores0[first]
        keypoints_first = np.asarray(self._features[stored0.name]["keypoints"], np.float32)
        keypoints_second = np.asarray(self._features[stored1.name]["keypoints"], np.float32)
        if len(pairs) and (pairs[:, 0].max() >= len(keypoints_first) or pairs[:, 1].max() >= len(keypoints_second)):
            raise ValueError("a match points past the keypoints stored for its image")
        kpts_first, kpts_second = keypoints_first[pairs[:, 0]], keypoints_second[pairs[:, 1]]
        if reverse:
            kpts_first, kpts_second = kpts_second, kpts_first
            keypoints_first, keypoints_second = keypoints_second, keypoints_first
        size0, note0 = self.image_size(i0, keypoints_first)
        size1, note1 = self.image_size(i1, keypoints_second)
        notes = tuple(n for n in (note0, note1) if n)
        info = RunInfo(self.kind, str(self.source), "–", "–", ((0, 0), (0, 0)), 0.0, notes=notes)
        result = MatchResult(
            np.ascontiguousarray(kpts_first, np.float32),
            np.ascontiguousarray(kpts_second, np.float32),
            np.clip(scores, 0, 1).astype(np.float32),
            (size0, size1),
            info,
        )
        return StoredPair(
            index,
            (image0.name, image1.name),
            (self.image_path(image0.name), self.image_path(image1.name)),
            result,
            None,
            "",
        )

    def close(self) -> None:
        for handle in (getattr(self, "_features", None), getattr(self, "_matches", None)):
            if handle is not None:
                handle.close()
