"""Files the app ships in `resources/` (style sheet, sample pair): package data, found with importlib.resources.

One accessor for the whole app lives in the `resources` package; this module keeps the window's import path.
"""

from __future__ import annotations

from resources import ResourceMissing, resource_path

__all__ = ["ResourceMissing", "resource_path"]
