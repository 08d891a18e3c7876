"""Checks for the arrays that matching runs and match files store, whoever wrote them and whatever happened since.

Each check returns the array in the shape and dtype the readers use, or raises ValueError with one line that names
the array (`what`, e.g. "features.h5 a.jpg/keypoints") and what is wrong with it. The readers turn that into their
own error (RunOpenError, ExportError) naming the file and pair. Values are cast only where nothing is lost: text,
records or fractional indices are refused, never truncated or reinterpreted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMBERS = "fiu"  # numpy dtype kinds a coordinate or score may be stored as


def points(array: Any, what: str) -> np.ndarray:
    """(N, 2) float32 x, y. Zero rows of any width are no points (JSON writes [] for none)."""
    array = np.asarray(array)
    if array.ndim in (1, 2) and len(array) == 0:
        return np.zeros((0, 2), np.float32)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{what} has shape {_shape(array)}, not (N, 2) points")
    return _numbers(array, what).astype(np.float32)


def values(array: Any, what: str, count: int | None = None) -> np.ndarray:
    """(N,) float32, N = count when given (one value per match)."""
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError(f"{what} has shape {_shape(array)}, not one value per match")
    if count is not None and len(array) != count:
        raise ValueError(f"{what} holds {len(array)} values, not {count}")
    return _numbers(array, what).astype(np.float32)


def flags(array: Any, what: str, count: int) -> np.ndarray:
    """(count,) bool, stored as booleans or as 0 / 1."""
    array = np.asarray(array)
    if array.ndim != 1 or len(array) != count:
        raise ValueError(f"{what} has shape {_shape(array)}, not one flag for each of {count} matches")
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind in NUMBERS and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise ValueError(f"{what} holds values other than true / false (dtype {array.dtype})")


def indices(array: Any, what: str, columns: int | None = None) -> np.ndarray:
    """Keypoint indices as int64, (N,) or (N, columns); a float dtype only when every value is a whole number."""
    array = np.asarray(array)
    if (array.ndim, array.shape[1:]) != ((1, ()) if columns is None else (2, (columns,))):
        expected = "(N,)" if columns is None else f"(N, {columns})"
        raise ValueError(f"{what} has shape {_shape(array)}, not {expected} keypoint indices")
    kind = array.dtype.kind
    if kind in "iu":
        if kind == "u" and array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"{what} holds the index {int(array.max())}, larger than any keypoint count")
        return array.astype(np.int64)
    if kind == "f" and (np.abs(array) < 2.0**53).all() and (array == np.round(array)).all():  # NaN fails too
        return array.astype(np.int64)
    raise ValueError(f"{what} holds {_dtype_words(array)}, not whole-number keypoint indices")


def take(keypoints: np.ndarray, chosen: np.ndarray, image: str) -> np.ndarray:
    """keypoints[chosen], refusing an index outside the keypoints of `image` (numpy would wrap a negative one)."""
    if len(chosen):
        low, high = int(chosen.min()), int(chosen.max())
        if low < 0:
            raise ValueError(f"a match points to keypoint {low} of {image}: keypoint indices are not negative")
        if high >= len(keypoints):
            raise ValueError(f"a match points to keypoint {high} of {image}, which has {len(keypoints)} keypoints")
    return keypoints[chosen]


def size_hw(height: Any, width: Any, what: str) -> tuple[int, int]:
    """(height, width) as positive whole numbers of pixels."""
    height, width = (v.item() if isinstance(v, np.generic) else v for v in (height, width))  # plain in messages
    sides = []
    for side in (height, width):
        try:
            number = float(side) if isinstance(side, (int, float)) else float("nan")
        except OverflowError:  # an integer past any float (JSON has no limit)
            number = float("inf")
        if isinstance(side, bool) or not (np.isfinite(number) and number >= 1 and number == round(number)):
            raise ValueError(f"{what} is {height!r} x {width!r} (height x width), not two positive whole numbers")
        sides.append(int(number))
    return sides[0], sides[1]


def _numbers(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in NUMBERS:
        raise ValueError(f"{what} holds {_dtype_words(array)}, not numbers")
    return array


def _shape(array: np.ndarray) -> str:
    return str(tuple(int(n) for n in array.shape))


def _dtype_words(array: np.ndarray) -> str:
    return {"S": "bytes", "U": "text", "O": "objects", "V": "records", "b": "booleans"}.get(
        array.dtype.kind, f"{array.dtype} values"
    )
