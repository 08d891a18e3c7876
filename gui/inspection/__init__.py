"""The inspector's state without Qt: one model that every control, view, export and session reads and writes."""

from .browsing import BrowsingContext
from .comparison import ComparisonState, RunA
from .geometry_state import GeometryFit, GeometryState
from .model import InspectionModel, Overlay
from .selection import Region, SelectionState
from .settings import DisplayOptions, ExportOptions, ImageOptions, ViewRange, ViewState

__all__ = [
    "BrowsingContext",
    "ComparisonState",
    "DisplayOptions",
    "ExportOptions",
    "GeometryFit",
    "GeometryState",
    "ImageOptions",
    "InspectionModel",
    "Overlay",
    "Region",
    "RunA",
    "SelectionState",
    "ViewRange",
    "ViewState",
]
