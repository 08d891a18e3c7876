"""The inspector's state without Qt: one model that every control, view, export and session reads and writes."""

from .browsing import BrowsingContext
from .comparison import ComparisonState, RunA
from .geometry_state import GeometryFit, GeometryState
from .model import InspectionModel, Overlay, Region
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
    "ViewRange",
    "ViewState",
]
