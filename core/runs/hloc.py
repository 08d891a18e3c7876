"""hloc's features.h5 + matches.h5 (+ its pairs file), read as hloc reads them.

features.h5: one group per image name (names with "/" become nested groups) holding `keypoints` (N, 2) float32 in
our pixel convention (hloc adds COLMAP's 0.5 only when importing) and, when written, `image_size` (width, height).
matches.h5: one group per pair named by hloc's `names_to_pair` ("name0/name1", "/" inside names replaced by "-"),
holding `matches0` (index into image 1's keypoints for each keypoint of image 0, -1 for none) and
`matching_scores0`. Older files join the names with "_"; a pair may be stored in either order. hloc stores no
verified inliers (COLMAP verifies after import), so the inlier column stays unknown.

Every dataset is checked before use (core.formats.stored_arrays): matches0 is 1-D whole numbers, -1 or an index into the
second image's keypoints; matching_scores0 has one number per entry of matches0; keypoints are (N, 2) numbers;
image_size is two positive whole numbers. Anything else is one RunOpenError naming the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import MatchCancelled
from core.formats.hloc import names_to_pair
from core.formats.stored_arrays import indices, points, size_hw, take, values
from core.runs.base import (
    UNKNOWN,
    KeypointMatches,
    MatchingRun,
    PairRows,
    Progress,
    RunImage,
    RunOpenError,
    StoredPair,
)
from core.types import MatchResult, RunInfo


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
        # Names only (h5py's visit, keys): creating an h5py object per item costs ~0.1 ms, too much for 20,000 pairs.
        items: list[str] = []
        self._features.visit(items.append)
        names = sorted(item[: -len("/keypoints")] for item in items if item.endswith("/keypoints"))
        if not names:
            raise ValueError(f"{self.features_path.name} holds no keypoints: not an hloc features file")
        # Sizes are read with a pair (one dataset per image would be 1,000 reads before the window shows anything).
        self._sized = {item[: -len("/image_size")] for item in items if item.endswith("/image_size")}
        self.images = tuple(RunImage(name, None) for name in names)
        index_of = {name: i for i, name in enumerate(names)}
        # Pair group names replace "/" in image names by "-": map those back to the real names.
        self._by_flat_name = {name.replace("/", "-"): name for name in names}
        stored = self._stored_groups()
        if pairs_file is not None:
            wanted = self._read_pairs_file(pairs_file)
            located_groups = [self._locate(stored, name0, name1) for name0, name1 in wanted]
        else:
            groups = sorted(stored)
            wanted = [self._split_group_name(group) for group in groups]
            located_groups = [(group, False) for group in groups]
        rows0, rows1, self._groups = [], [], []
        for (name0, name1), located in zip(wanted, located_groups):
            if name0 not in index_of or name1 not in index_of:
                missing = name0 if name0 not in index_of else name1
                raise ValueError(f"image {missing} of pair ({name0}, {name1}) has no keypoints in the features file")
            if located is None:
                raise ValueError(f"pair ({name0}, {name1}) is not in the matches file")
            rows0.append(index_of[name0])
            rows1.append(index_of[name1])
            self._groups.append(located)
        count = len(rows0)
        self.pairs = PairRows(
            np.array(rows0, np.int64),
            np.array(rows1, np.int64),
            np.full(count, UNKNOWN, np.int64),  # counted on demand (count_matches): one read per pair
            np.full(count, UNKNOWN, np.int64),
            np.full(count, "", dtype=str),
        )

    def _stored_groups(self) -> set[str]:
        """Every pair group of matches.h5: "name0/name1" (two levels) or, in older files, "name0_name1" (one)."""
        import h5py

        groups = set()
        for first in self._matches.keys():
            group = self._matches[first]
            if not isinstance(group, h5py.Group):
                raise ValueError(f"'{first}' is a dataset, not a group of pairs")
            if "matches0" in group:
                groups.add(first)
            else:
                groups.update(f"{first}/{second}" for second in group.keys())
        return groups

    def count_matches(self, index: int) -> int:
        try:
            with self._lock:
                count = int(np.count_nonzero(self._matches0(index) != -1))
        except (KeyError, ValueError, OSError) as exc:
            raise self.damaged(index, exc) from exc
        self.pairs.matches[index] = count
        return count

    def _matches0(self, index: int) -> np.ndarray:
        """The pair's matches0 as int64: for each keypoint of the first image, -1 or an index into the second's."""
        path = f"{self._groups[index][0]}/matches0"
        matches0 = indices(_read(self._matches, path), f"{self.source.name} {path}")
        if len(matches0) and matches0.min() < -1:
            raise ValueError(f"{self.source.name} {path} holds {matches0.min()}: only -1 (no match) is negative")
        return matches0

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

    def _split_group_name(self, group: str) -> tuple[str, str]:
        first, _, second = group.partition("/")  # the usual case: names hold no "/" (names_to_pair replaced it)
        if first in self._by_flat_name and second in self._by_flat_name:
            return self._by_flat_name[first], self._by_flat_name[second]
        for separator in ("/", "_"):
            parts = group.split(separator)
            for cut in range(1, len(parts)):
                first, second = separator.join(parts[:cut]), separator.join(parts[cut:])
                if first in self._by_flat_name and second in self._by_flat_name:
                    return self._by_flat_name[first], self._by_flat_name[second]
        raise ValueError(f"pair group '{group}' names images that are not in the features file")

    @staticmethod
    def _locate(stored: set[str], name0: str, name1: str) -> tuple[str, bool] | None:
        """hloc's find_pair: the group of the pair in either order, joined by "/" or (older files) "_"."""
        for first, second, reverse in ((name0, name1, False), (name1, name0, True)):
            current = names_to_pair(first, second)
            for group in (current, "_".join(current.split("/", 1))):
                if group in stored:
                    return group, reverse
        return None

    def image_size(self, index: int, fallback_points: np.ndarray) -> tuple[tuple[int, int], str]:
        name = self.images[index].name
        if name in self._sized:
            what = f"{self.features_path.name} {name}/image_size"
            stored = _read(self._features, f"{name}/image_size")
            if stored.shape != (2,):
                raise ValueError(f"{what} has shape {stored.shape}, not (width, height)")
            return size_hw(stored[1], stored[0], what), ""
        return super().image_size(index, fallback_points)

    def _keypoints(self, name: str) -> np.ndarray:
        path = f"{name}/keypoints"
        return points(_read(self._features, path), f"{self.features_path.name} {path}")

    def _read_pair(self, index: int) -> StoredPair:
        try:
            return self._read(index)
        except (KeyError, ValueError, OSError) as exc:
            raise self.damaged(index, exc) from exc

    def _read(self, index: int) -> StoredPair:
        group, reverse = self._groups[index]
        i0, i1 = int(self.pairs.image0[index]), int(self.pairs.image1[index])
        image0, image1 = self.images[i0], self.images[i1]
        # matches0 runs over the keypoints of the image named first in the group
        stored0, stored1 = (image1, image0) if reverse else (image0, image1)
        matches0 = self._matches0(index)
        path = f"{group}/matching_scores0"
        scores0 = values(_read(self._matches, path), f"{self.source.name} {path}", len(matches0))
        first = np.flatnonzero(matches0 != -1)
        self.pairs.matches[index] = len(first)
        scores = scores0[first]
        keypoints_first, keypoints_second = self._keypoints(stored0.name), self._keypoints(stored1.name)
        kpts_first = take(keypoints_first, first, stored0.name)
        kpts_second = take(keypoints_second, matches0[first], stored1.name)
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
        return self.stored_pair(index, (image0.name, image1.name), result)

    def keypoint_matches(
        self, progress: Progress = lambda done, total: None, cancelled: Callable[[], bool] = lambda: False
    ) -> KeypointMatches:
        """Every pair's matches0 as keypoint ids (hloc files hold no verification: the raw matches)."""
        try:
            with self._lock:
                return self._keypoint_matches(progress, cancelled)
        except (KeyError, ValueError, OSError) as exc:
            raise RunOpenError(f"{self.source.name}: cannot read the matches ({exc})") from exc

    def _keypoint_matches(self, progress: Progress, cancelled: Callable[[], bool]) -> KeypointMatches:
        keypoints = tuple(self._keypoints(image.name) for image in self.images)
        total = len(self.pairs)
        pair_rows, first, second, scores = [], [], [], []
        for index in range(total):
            if index % 256 == 0:
                if cancelled():
                    raise MatchCancelled()
                progress(index, total)
            group, reverse = self._groups[index]
            matches0 = self._matches0(index)
            path = f"{group}/matching_scores0"
            scores0 = values(_read(self._matches, path), f"{self.source.name} {path}", len(matches0))
            matched = np.flatnonzero(matches0 != -1)
            i0, i1 = int(self.pairs.image0[index]), int(self.pairs.image1[index])
            stored0, stored1 = (i1, i0) if reverse else (i0, i1)  # matches0 runs over the group's first image
            for chosen, image in ((matched, stored0), (matches0[matched], stored1)):
                take(keypoints[image], chosen, self.images[image].name)  # refuses an index past the keypoints
            ids0, ids1 = (matches0[matched], matched) if reverse else (matched, matches0[matched])
            pair_rows.append(np.full(len(matched), index, np.int32))
            first.append(ids0.astype(np.int32))
            second.append(ids1.astype(np.int32))
            scores.append(np.clip(scores0[matched], 0, 1).astype(np.float32))
        progress(total, total)
        empty = np.zeros(0, np.int32)
        return KeypointMatches(
            keypoints,
            np.concatenate(pair_rows) if pair_rows else empty,
            np.concatenate(first) if first else empty,
            np.concatenate(second) if second else empty,
            np.concatenate(scores) if scores else np.zeros(0, np.float32),
            verified=False,
        )

    def close(self) -> None:
        for handle in (getattr(self, "_features", None), getattr(self, "_matches", None)):
            if handle is not None:
                handle.close()


def _read(handle: Any, path: str) -> np.ndarray:
    """A whole dataset through h5py's low-level API: half the cost of handle[path][()] for small arrays."""
    import h5py

    try:
        dataset = h5py.h5d.open(handle.id, path.encode())
    except KeyError as exc:  # missing, or a group where the dataset belongs
        raise ValueError(f"{Path(handle.filename).name} has no dataset {path}") from exc
    array = np.empty(dataset.shape, dataset.dtype)
    if array.size:
        dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, array)
    return array
