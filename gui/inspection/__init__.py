"""The inspector's state without Qt: one model that every control, view, export and session reads and writes."""

from .model import DisplayOptions, GeometryFit, InspectionModel, Region, RunA

__all__ = ["DisplayOptions", "GeometryFit", "InspectionModel", "Region", "RunA"]
