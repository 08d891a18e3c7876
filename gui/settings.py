"""Persistent settings (QSettings): last folders, window geometry, model and display options, recent pairs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields, replace
from typing import Any, get_args

from PySide6.QtCore import QSettings

from core.formats.drawing import LayoutChoice
from core.types import MatchOptions

from .inspection import InspectionModel

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


def _json(settings: QSettings, key: str) -> dict[str, Any]:
    try:
        data = json.loads(str(settings.value(key, "{}")))
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def typed_fields(record: dict[str, Any], defaults: Any) -> dict[str, Any]:
    """The fields of `record` that exist in the dataclass `defaults` and have its type (corrupt entries dropped)."""
    kept = {}
    for f in fields(defaults):
        if f.name not in record:
            continue
        default, saved = getattr(defaults, f.name), record[f.name]
        if (
            default is None
            or saved is None
            or isinstance(saved, type(default))
            or (isinstance(default, float) and isinstance(saved, int))
        ):
            kept[f.name] = tuple(saved) if isinstance(saved, list) else saved
    return kept


def view_layout(record: dict[str, Any], default: str) -> Any:
    """The layout choice saved in a record (settings, a session), or `default` when missing or unknown."""
    layout = record.get("layout")
    return layout if layout in get_args(LayoutChoice) else default


# Each context keeps its own settings: browsing a run (threshold at the lowest score, stored verification, the
# run's docks) must not become what the next plain pair session starts with.
CONTEXTS = {"pair": "", "browse": "browse/"}  # key prefix; a plain pair session keeps the keys it always had


def save_model(
    settings: QSettings, model: InspectionModel, context: str = "pair", match_options: MatchOptions | None = None
) -> None:
    """`match_options`: saved instead of the model's (a stand-in the window chose, not the user)."""
    prefix = CONTEXTS[context]
    options = match_options if match_options is not None else model.match_options
    settings.setValue(f"{prefix}model/match_options", json.dumps(asdict(options)))
    settings.setValue(f"{prefix}model/display", json.dumps({**asdict(model.display), "layout": model.view.layout}))
    settings.setValue(f"{prefix}model/geometry_options", json.dumps(asdict(model.geometry_options)))
    settings.setValue(f"{prefix}model/threshold", model.threshold)


def has_saved(settings: QSettings, context: str) -> bool:
    return settings.contains(f"{CONTEXTS[context]}model/display")


def restore_model(settings: QSettings, model: InspectionModel, context: str = "pair") -> None:
    """Options the context was last closed with; anything missing or corrupt keeps its default."""
    prefix = CONTEXTS[context]
    try:
        match = typed_fields(_json(settings, f"{prefix}model/match_options"), model.match_options)
        model.set_match_options(replace(model.match_options, **match))
    except (TypeError, ValueError):
        pass
    try:
        geometry = typed_fields(_json(settings, f"{prefix}model/geometry_options"), model.geometry_options)
        model.set_geometry_options(replace(model.geometry_options, **geometry))
    except (TypeError, ValueError):
        pass
    display = _json(settings, f"{prefix}model/display")
    model.set_display(**typed_fields(display, model.display))
    model.view.layout = view_layout(display, model.view.layout)
    model.set_threshold(value(settings, f"{prefix}model/threshold", model.threshold, float))
