"""hloc's own reading logic (hloc/utils/io.py, hloc/utils/parsers.py, hloc/match_dense.py), written from its
documented behaviour so the tests read our files the way hloc does, independently of our exporter."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def names_to_pair(name0: str, name1: str, separator: str = "/") -> str:
    return separator.join((name0.replace("/", "-"), name1.replace("/", "-")))


def names_to_pair_old(name0: str, name1: str) -> str:
    return names_to_pair(name0, name1, separator="_")


def find_pair(hfile: h5py.File, name0: str, name1: str) -> tuple[str, bool]:
    """The group of a pair and whether it is stored reversed; hloc raises ValueError when neither order exists."""
    for pair, reverse in (
        (names_to_pair(name0, name1), False),
        (names_to_pair(name1, name0), True),
        (names_to_pair_old(name0, name1), False),
        (names_to_pair_old(name1, name0), True),
    ):
        if pair in hfile:
            return pair, reverse
    raise ValueError(f"Could not find pair {(name0, name1)}... Maybe you matched with a different list of pairs?")


def get_keypoints(path: Path, name: str) -> np.ndarray:
    with h5py.File(str(path), "r") as hfile:
        return hfile[name]["keypoints"].__array__()


def get_matches(path: Path, name0: str, name1: str) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(str(path), "r") as hfile:
        pair, reverse = find_pair(hfile, name0, name1)
        matches = hfile[pair]["matches0"].__array__()
        scores = hfile[pair]["matching_scores0"].__array__()
    idx = np.where(matches != -1)[0]
    matches = np.stack([idx, matches[idx]], -1)
    if reverse:
        matches = np.flip(matches, -1)
    return matches, scores[idx]


def get_grouped_ids(array: np.ndarray) -> list[np.ndarray]:
    idx_sort = np.argsort(array)
    _, ids = np.unique(array[idx_sort], return_index=True)
    return np.split(idx_sort, ids[1:])


def get_unique_matches(match_ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hloc removes n-to-1 matches: a match stays if it is the best for its image-0 and its image-1 keypoint."""
    isets1 = get_grouped_ids(match_ids[:, 0])
    isets2 = get_grouped_ids(match_ids[:, 1])
    uid1s = [ids[scores[ids].argmax()] for ids in isets1 if len(ids) > 0]
    uid2s = [ids[scores[ids].argmax()] for ids in isets2 if len(ids) > 0]
    uids = sorted(set(uid1s).intersection(uid2s))
    return match_ids[uids], scores[uids]
