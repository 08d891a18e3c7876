"""Errors that cross from core to its callers; torch-free so the GUI can catch them without importing the model.

`UserError` is everything the person can fix (a file, an option, the weights): its message is one line meant for
them, the command line exits 2 and no traceback is logged. Anything else is an internal error.
"""


class UserError(Exception):
    """Bad input, a broken file or an unwritable target; the message is one line for the user."""


class WeightsError(UserError):
    """A weights source that cannot be used; the message says why and what to do."""


class OptionsError(UserError, ValueError):
    """An option value that cannot be used here (device, matcher)."""


class ExportError(UserError):
    """An export that could not be written or read; the message is for the user. Nothing was overwritten."""


class MatchCancelled(Exception):
    """The caller's cancel check asked to stop; nothing was produced."""
