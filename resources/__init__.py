"""The files the app needs at run time (style sheet, sample pair), installed as package data.

Found through importlib.resources, so a regular install (wheel, `pip install .`) behaves like the source tree.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


class ResourceMissing(FileNotFoundError):
    """A file the installation should hold is not there: the install is incomplete."""


def resource_path(name: str) -> Path:
    """The path of a bundled file. Raises ResourceMissing (never returns a path to nothing)."""
    resource = files(__name__) / name
    if not resource.is_file():
        raise ResourceMissing(
            f"the bundled file '{name}' is missing from this installation of match-inspector; reinstall it"
        )
    return Path(str(resource))
