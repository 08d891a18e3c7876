"""Persistent settings (QSettings): last folders, window geometry, model and display options, recent pairs."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def open_settings() -> QSettings:
    """INI settings under MATCH_INSPECTOR_SETTINGS_DIR when set (tests), else the platform's usual place."""
    folder = os.environ.get("MATCH_INSPECTOR_SETTINGS_DIR")
    if folder:
        return QSettings(os.path.join(folder, "match-inspector.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "MatchInspector", "match-inspector")


def value(settings: QSettings, key: str, default: Any, kind: type) -> Any:
    """A typed read that falls back to the default on a missing or corrupt entry."""
    raw = settings.value(key, default)
    try:
        if kind is bool:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        return kind(raw)
    except (TypeError, ValueError):
        return default


def recent_pairs(settings: QSettings) -> list[tuple[str, str]]:
    raw = settings.value("recent/pairs", [])
    if isinstance(raw, str):
        raw = [raw]
    pairs = []
    for entry in list(raw) if isinstance(raw, (list, tuple)) else []:
        parts = str(entry).split("\n")
        if len(parts) == 2:
            pairs.append((parts[0], parts[1]))
    return pairs


def add_recent_pair(settings: QSettings, path0: str, path1: str) -> None:
    pairs = [(path0, path1)] + [p for p in recent_pairs(settings) if p != (path0, path1)]
    settings.setValue("recent/pairs", [f"{a}\n{b}" for a, b in pairs[:MAX_RECENT]])
