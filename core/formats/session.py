"""Inspector sessions: one file that reopens a pair's results and view without running the model again.

A session is an NPZ file (extension .misession): the full match arrays (all scores, not only those above the
threshold) plus a JSON record of the images (paths, sizes, SHA-256 of their files), the run, the threshold, the
selection, the geometry options and fitted model, and the view settings.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UserError
from core.formats.files import file_sha256, write_atomically
from core.types import MatchResult, RunInfo
from core.version import __version__

SESSION_SUFFIX = ".misession"
VERSION = 1


class SessionError(UserError):
    """A session file that cannot be written or read; the message is for the user."""


@dataclass(frozen=True, eq=False)
class SavedRunA:
    """Run A of an A/B comparison as a session saves it: the window's RunA without its live result id."""

    label: str
    result: MatchResult
    threshold: float


@dataclass(frozen=True, eq=False)
class Session:
    image_paths: tuple[str, str]
    image_hashes: tuple[str | None, str | None]
    result: MatchResult
    threshold: float
    selected: int = -1
    geometry: dict[str, Any] = field(default_factory=dict)  # options, and matrix when one was fitted
    view: dict[str, Any] = field(default_factory=dict)  # layout, colour mode, line style, toggles, view range
    run_a: SavedRunA | None = None

    def changed_images(self) -> list[str]:
        """Paths whose file is missing or differs from when the session was saved."""
        return [p for p, h in zip(self.image_paths, self.image_hashes) if h is not None and file_sha256(p) != h]


def save_session(path: str | Path, session: Session) -> Path:
    path = Path(path)
    if path.suffix != SESSION_SUFFIX:
        path = path.with_name(path.name + SESSION_SUFFIX)
    record = {
        "version": VERSION,
        "image_paths": list(session.image_paths),
        "image_hashes": list(session.image_hashes),
        "app_version": __version__,
        "image_sizes_hw": [list(s) for s in session.result.image_sizes],
        "run": session.result.info.to_dict(),
        "threshold": session.threshold,
        "selected": session.selected,
        "geometry": session.geometry,
        "view": session.view,
    }
    arrays = {
        "kpts0": session.result.kpts0,
        "kpts1": session.result.kpts1,
        "scores": session.result.scores,
    }
    if session.run_a is not None:
        a = session.run_a
        record["run_a"] = {"label": a.label, "threshold": a.threshold, "run": a.result.info.to_dict()}
        arrays.update(a_kpts0=a.result.kpts0, a_kpts1=a.result.kpts1, a_scores=a.result.scores)
    arrays["record"] = np.array(json.dumps(record))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]

    try:
        write_atomically(path, write)
    except OSError as exc:
        raise SessionError(f"cannot write {path.name}: {exc.strerror or exc}") from exc
    return path


def load_session(path: str | Path) -> Session:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            record = json.loads(str(data["record"]))
            kpts0, kpts1, scores = data["kpts0"], data["kpts1"], data["scores"]
            a_arrays = (data["a_kpts0"], data["a_kpts1"], data["a_scores"]) if "run_a" in record else None
        if record.get("version") != VERSION:
            raise SessionError(f"{path.name}: unsupported session version {record.get('version')}")
        info = RunInfo.from_dict(record["run"])
        sizes = tuple(tuple(int(v) for v in s) for s in record.get("image_sizes_hw", record.get("image_sizes")))
        result = MatchResult(kpts0, kpts1, scores, sizes, info)  # type: ignore[arg-type]
        run_a = None
        if a_arrays is not None:
            a = record["run_a"]
            a_result = MatchResult(*a_arrays, sizes, RunInfo.from_dict(a["run"]))  # type: ignore[arg-type]
            run_a = SavedRunA(str(a["label"]), a_result, float(a["threshold"]))
        return Session(
            tuple(record["image_paths"]),
            tuple(record["image_hashes"]),
            result,  # type: ignore[arg-type]
            float(record["threshold"]),
            int(record["selected"]),
            dict(record["geometry"]),
            dict(record["view"]),
            run_a,
        )
    except SessionError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise SessionError(f"{path.name} is not a readable session file ({reason})") from exc
