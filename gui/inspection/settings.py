"""Small evented settings, each the one owner of one kind of state (napari's `Camera`, `Dims`, ...).

A field change emits `events.<field>(value)`; a widget binds to one field: it writes on edit and follows the event
(gui/widgets/binding.py). Nothing else keeps a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from psygnal import SignalGroupDescriptor

from core.analysis.line_budget import DEFAULT_LINE_BUDGET
from core.formats.drawing import ColorMode, Layout, LayoutChoice, choose_layout


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


@dataclass
class DisplayOptions:
    """How the matches are drawn: the screen and the PNG export both read these."""

    color_mode: ColorMode = "confidence"
    line_width: float = 1.0
    opacity: float = 0.85
    line_budget: int = DEFAULT_LINE_BUDGET  # lines drawn at most (spatially even subsample); 0 draws every line
    show_lines: bool = True  # off: a keypoints-only view
    show_markers: bool = False  # keypoint markers for every visible match
    heatmap: bool = False
    overlay: bool = False  # image 1 warped onto image 0 by the homography
    overlay_blend: float = 0.5
    overlay_checker: bool = False
    ambiguity: bool = False  # the selected match's coarse confidence over image 1: where else it could have matched

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()


@dataclass(frozen=True)
class ViewRange:
    """The part of the pair in view, in view coordinates (image 0's pixels; image 1 sits at its offset)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def as_list(self) -> list[float]:
        return [self.x0, self.x1, self.y0, self.y1]

    def close_to(self, other: ViewRange | None, tolerance: float = 1e-6) -> bool:
        if other is None:
            return False
        scale = max(abs(self.x1 - self.x0), abs(self.y1 - self.y0), 1.0)
        return all(abs(a - b) <= tolerance * scale for a, b in zip(self.as_list(), other.as_list()))


@dataclass
class ViewState:
    """Where the pair is laid out and which part of it is in view. The view writes the range on pan and zoom and
    the canvas size on resize; sessions save and restore the range through this field."""

    layout: LayoutChoice = "auto"  # auto picks side by side or stacked from the images' and canvas's aspect
    canvas: tuple[int, int] = (1, 1)  # (height, width) of the view in screen pixels
    range: ViewRange | None = None

    events: ClassVar[SignalGroupDescriptor] = SignalGroupDescriptor()

    def resolve(self, size0: tuple[int, int] | None, size1: tuple[int, int] | None) -> Layout:
        """The layout the pair is drawn in: the choice, or for "auto" the one that fits the canvas better."""
        if self.layout != "auto":
            return self.layout
        if size0 is None or size1 is None:
            return "side"
        return choose_layout(size0, size1, self.canvas)
