"""The inspector's state without Qt: one model that every control, view, export and session reads and writes."""

from .browsing import BrowsingContext
from .comparison import ComparisonState, RunA
from .model import GeometryFit, InspectionModel, Overlay, Region
from .settings import DisplayOptions, ExportOptions, ImageOptions, ViewRange, ViewState

__all__ = [
    "BrowsingContext",
    "ComparisonState",
    "DisplayOptions",
    "ExportOptions",
    "GeometryFit",
    "ImageOptions",
    "InspectionModel",
    "Overlay",
    "Region",
    "RunA",
    "ViewRange",
    "ViewState",
]
