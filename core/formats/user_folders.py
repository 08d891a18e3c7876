"""Where match-inspector keeps files of its own outside the user's outputs: the one home of that rule."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Exported and compiled models and the error log: $MATCH_INSPECTOR_CACHE_DIR, else the user's cache folder
    ($XDG_CACHE_HOME or ~/.cache) / match-inspector."""
    explicit = os.environ.get("MATCH_INSPECTOR_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "match-inspector"


def error_log_path() -> Path:
    """Where internal errors' tracebacks go: $MATCH_INSPECTOR_LOG, else errors.log in the cache folder."""
    explicit = os.environ.get("MATCH_INSPECTOR_LOG")
    return Path(explicit) if explicit else cache_dir() / "errors.log"
