"""Errors that cross from core to its callers; torch-free so the GUI can catch them without importing the model."""


class WeightsError(ValueError):
    """A weights source that cannot be used; the message says why and what to do."""


class MatchCancelled(Exception):
    """The caller's cancel check asked to stop; nothing was produced."""
