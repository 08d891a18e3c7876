"""A finished track build written to a folder and read back: how the window gets it from the process that built it.

Pickle with every numpy array stored beside it as its own .npy file (Pickler.persistent_id): the pickle stays small,
and the arrays come back memory-mapped, so handing over a build of millions of keypoints costs the reader almost
nothing (unpickling one large pickle would hold the interpreter lock for a long moment); pages are read when used.
The folder must stay until the build is dropped (load_built removes it then).
"""

from __future__ import annotations

import pickle
import shutil
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from core.tracks.build import RunTracks

PICKLE = "tracks.pickle"


class _Pickler(pickle.Pickler):
    def __init__(self, handle: Any, folder: Path) -> None:
        super().__init__(handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.folder = folder
        self.count = 0

    def persistent_id(self, obj: Any) -> str | None:
        if type(obj) is np.ndarray and obj.dtype != object:
            name = f"array_{self.count}.npy"
            self.count += 1
            np.save(self.folder / name, obj, allow_pickle=False)
            return name
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle: Any, folder: Path) -> None:
        super().__init__(handle)
        self.folder = folder

    def persistent_load(self, pid: Any) -> Any:
        name = str(pid)
        if "/" in name or "\\" in name or not name.endswith(".npy"):
            raise pickle.UnpicklingError(f"not an array of this folder: {name!r}")
        return np.load(self.folder / name, mmap_mode="r", allow_pickle=False)


def save_built(built: RunTracks, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / PICKLE, "wb") as handle:
        _Pickler(handle, folder).dump(built)


def load_built(folder: Path, remove_when_dropped: bool = False) -> RunTracks:
    """Only for folders this program wrote (pickle runs code): the window's own temporary folder. The arrays are
    read-only memory maps; with `remove_when_dropped` the folder is deleted once the build is garbage."""
    with open(folder / PICKLE, "rb") as handle:
        built = _Unpickler(handle, folder).load()
    if not isinstance(built, RunTracks):
        raise TypeError(f"{folder} holds no track build")
    if remove_when_dropped:
        weakref.finalize(built, shutil.rmtree, folder, True)
    return built
