"""The inspector's state without Qt: one model that every control, view, export and session reads and writes."""

from .model import DisplayOptions, GeometryFit, InspectionModel, Region, RunA
from .settings import ExportOptions, ImageOptions

__all__ = ["DisplayOptions", "ExportOptions", "GeometryFit", "ImageOptions", "InspectionModel", "Region", "RunA"]
