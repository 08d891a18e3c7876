"""Small evented settings, each the one owner of what a menu checkbox shows (napari's `Camera`, `Dims`, ...).

A field change emits `events.<field>(value)`; a widget binds to one field: it writes on edit and follows the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from psygnal import SignalGroupDescriptor


@dataclass
class ImageOptions:
    """How image files are read: the loader and the *Apply EXIF orientation* checkbox both read this."""

    apply_exif: bool = True  # upright (EXIF orientation applied) or the stored pixels

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()


@dataclass
class ExportOptions:
    """What a PNG export adds to the picture of the view."""

    legend_in_png: bool = True  # caption (pair, matcher, threshold, counts, verdict) and colour legend

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()
