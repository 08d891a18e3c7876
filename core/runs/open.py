"""open_run(): a COLMAP database, an hloc features.h5 / matches.h5 pair, or a folder holding either (or the
per-pair files of `match-inspector batch`), opened with its reader. The readers import only core.runs.base."""

from __future__ import annotations

from pathlib import Path

from core.runs.base import MatchingRun, RunOpenError


def _default_image_dir(folder: Path) -> Path | None:
    candidate = folder / "images"  # COLMAP's and hloc's usual project layout
    return candidate if candidate.is_dir() else None


def open_run(
    path: str | Path, image_dir: str | Path | None = None, pairs_file: str | Path | None = None
) -> MatchingRun:
    """Open a COLMAP database, an hloc matches.h5 (features.h5 beside it) or a folder holding either.

    A folder opens, in this order: database.db, features.h5 + matches.h5, or the per-pair files of
    `match-inspector batch` (pairs/*.npz|json|csv). Raises RunOpenError with a message for the user.
    """
    path = Path(path)
    images = Path(image_dir) if image_dir is not None else None
    if images is not None and not images.is_dir():
        raise RunOpenError(f"image folder not found: {images}")
    if not path.exists():
        raise RunOpenError(f"not found: {path}")
    pairs = Path(pairs_file) if pairs_file is not None else None
    if pairs is not None and not pairs.is_file():
        raise RunOpenError(f"pairs file not found: {pairs}")
    if path.is_dir():
        folder = path
        if (folder / "database.db").is_file():
            path = folder / "database.db"
        elif (folder / "matches.h5").is_file():
            path = folder / "matches.h5"
        elif (folder / "pairs").is_dir():
            from core.runs.batch_folder import BatchFolderRun

            return BatchFolderRun(folder, images)
        else:
            raise RunOpenError(f"{folder} holds no database.db, matches.h5 or pairs/ folder of a matching run")
    folder = path.parent
    images = images or _default_image_dir(folder)
    if path.suffix.lower() in (".h5", ".hdf5"):
        from core.runs.hloc import HlocRun

        if path.name.startswith("features"):
            raise RunOpenError(f"{path.name} holds keypoints only: open the matches file (features beside it)")
        return HlocRun(_features_beside(path), path, images, pairs)
    from core.runs.colmap import ColmapDatabaseRun

    return ColmapDatabaseRun(path, images)


def _features_beside(matches: Path) -> Path:
    """hloc names its files features.h5 / matches.h5, or feats-NAME.h5 / matches-NAME_feats-NAME.h5."""
    candidates = [matches.parent / "features.h5"]
    if "_" in matches.stem:
        candidates.append(matches.parent / (matches.stem.split("_", 1)[1] + ".h5"))
    candidates += sorted(p for p in matches.parent.glob("feat*.h5") if p != matches)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise RunOpenError(f"no features file (features.h5) beside {matches.name}")
