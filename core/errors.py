"""Errors that cross from core to its callers; torch-free so the GUI can catch them without importing the model."""


class WeightsError(ValueError):
    """A weights source that cannot be used; the message says why and what to do."""


class MatchCancelled(Exception):
    """The caller's cancel check asked to stop; nothing was produced."""


def user_message(exc: BaseException) -> str:
    """One line for the user about a failed run or job; never a traceback."""
    from .io import ImageLoadError

    if isinstance(exc, WeightsError):
        return f"No usable EfficientLoFTR weights: {exc} Meanwhile, choose the SIFT baseline matcher."
    if isinstance(exc, (ImageLoadError, ValueError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: choose a smaller inference resolution."
    text = str(exc).strip().splitlines()
    return f"Failed ({type(exc).__name__}: {text[0] if text else 'no details'})"


# How the matcher process reports a failure, and the exception its parent raises for it.
FAILURE_KINDS = ("weights", "input", "memory", "internal")


def failure_kind(exc: BaseException) -> str:
    if isinstance(exc, WeightsError):
        return "weights"
    from .io import ImageLoadError

    if isinstance(exc, (ImageLoadError, ValueError)):
        return "input"
    if isinstance(exc, MemoryError):
        return "memory"
    return "internal"


def rebuild_failure(kind: str, message: str) -> BaseException:
    """The parent's exception for a child's failure, of the type its callers already handle."""
    if kind == "weights":
        return WeightsError(message)
    if kind == "input":
        return ValueError(message)
    if kind == "memory":
        return MemoryError(message)
    return RuntimeError(message)
