"""Writing files so that nothing is lost: atomic writes (temporary file, fsync, rename), the leftovers of a
killed writer, a writability check before long work, and the SHA-256 that provenance records."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from core.errors import ExportError


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MB blocks. Raises OSError."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str | None:
    """sha256_of(path), or None if the file cannot be read (provenance of inputs that may have gone)."""
    try:
        return sha256_of(path)
    except OSError:
        return None


def _umask() -> int:
    """The process umask, read without changing it where the system allows (setting it is process-wide)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_umask_lock = threading.Lock()


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable. Not every system can open a folder (Windows): then the rename must do."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


TEMPORARY_SUFFIX = ".tmp"


def _temporary_file(path: Path, folder: Path) -> Path:
    """A new empty file beside `path` named as left_over_temporaries() recognises it."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=folder)
    os.close(fd)
    return Path(name)


def left_over_temporaries(folder: Path) -> list[Path]:
    """Temporary files of write_atomically() in `folder` that a killed process never renamed or removed."""
    return sorted(folder.glob(f".*.{'?' * 8}{TEMPORARY_SUFFIX}"))  # mkstemp adds 8 random characters


def write_atomically(path: str | Path, writer: Callable[[Path], object]) -> None:
    """The one way files are written: `writer` fills a temporary path in the same folder, which is then flushed to
    disk, given the mode a new file gets under the umask (0666 & ~umask), and renamed over `path`; the folder is
    flushed too. Readers see the old file or the new one, never half of one; on any error the temporary file is
    removed and the previous file stays intact. Raises OSError."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = _temporary_file(path, folder)
    try:
        writer(tmp)
        with open(tmp, "rb+") as handle:  # the writer may have replaced the file: flush what is there now
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def check_writable(path: str | Path) -> None:
    """Raise ExportError now if `path` cannot be written (missing or read-only folder), before expensive work."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise ExportError(f"cannot write {path.name}: the folder {folder} does not exist")
    try:
        _temporary_file(path, folder).unlink()
    except OSError as exc:
        raise ExportError(f"cannot write {path.name} in {folder}: {exc.strerror or exc}") from exc
