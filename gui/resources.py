"""Files the app ships in `resources/` (style sheet, sample pair, icon)."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def resource_path(name: str) -> Path:
    path = RESOURCES / name
    if not path.is_file():
        raise FileNotFoundError(f"the app's resource {name} is missing from {RESOURCES}")
    return path
