"""Errors that cross from core to its callers; torch-free so the GUI can catch them without importing the model.

`UserError` is everything the person can fix (a file, an option, the weights): its message is one line meant for
them, the command line exits 2 and no traceback is logged. Anything else is an internal error.
"""

import signal


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


class MatcherDied(RuntimeError):
    """The process running the matcher ended without an answer: a crash in native code (SIGSEGV, SIGFPE), the
    out-of-memory killer or a kill from outside (SIGKILL). The message names how, e.g. "signal SIGFPE"."""


def how_it_died(exit_code: int | None) -> str:
    """A dead process's exit code (negative: the signal, as subprocess and multiprocessing give it) in words."""
    if exit_code is None:
        return "no exit status"
    if exit_code < 0:
        try:
            return f"signal {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"signal {-exit_code}"
    return f"exit code {exit_code}"


def user_message(exc: BaseException) -> str:
    """One line for the user about a failed run or job; never a traceback. Only a UserError is the user's to fix:
    any other exception (a ValueError deep in a library included) is reported as a failure."""
    if isinstance(exc, WeightsError):
        return f"No usable EfficientLoFTR weights: {exc} Meanwhile, choose the SIFT baseline matcher."
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: choose a smaller inference resolution."
    if isinstance(exc, MatcherDied):
        return f"Failed: {exc}; the next run starts a new one."
    text = str(exc).strip().splitlines()
    return f"Failed ({type(exc).__name__}: {text[0] if text else 'no details'})"


# How the matcher process reports a failure (failure_kind), and the exception its parent raises for it.
def failure_kind(exc: BaseException) -> str:
    if isinstance(exc, WeightsError):
        return "weights"
    if isinstance(exc, UserError):
        return "input"
    if isinstance(exc, MemoryError):
        return "memory"
    return "internal"


def rebuild_failure(kind: str, message: str) -> BaseException:
    """The parent's exception for a child's failure, of the type its callers already handle."""
    if kind == "weights":
        return WeightsError(message)
    if kind == "input":
        return UserError(message)
    if kind == "memory":
        return MemoryError(message)
    return RuntimeError(message)
