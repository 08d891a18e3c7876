"""The inspector's state without Qt: small evented models, each the one owner of one kind of state, composed by
InspectionModel (which every control, view, export and session reads and writes), and the browsing context."""

from .browsing import BrowsingContext
from .comparison import ComparisonState, RunA
from .geometry_state import GeometryFit, GeometryState
from .matcher_comparison import CompareChoice, MatcherComparison, MatcherRun, MatcherTable
from .model import InspectionModel, Overlay
from .result_state import ResultState
from .selection import Region, SelectionState
from .settings import DisplayOptions, ExportOptions, ImageOptions, ViewRange, ViewState

__all__ = [
    "BrowsingContext",
    "CompareChoice",
    "ComparisonState",
    "DisplayOptions",
    "ExportOptions",
    "GeometryFit",
    "GeometryState",
    "ImageOptions",
    "InspectionModel",
    "MatcherComparison",
    "MatcherRun",
    "MatcherTable",
    "Overlay",
    "Region",
    "ResultState",
    "RunA",
    "SelectionState",
    "ViewRange",
    "ViewState",
]
