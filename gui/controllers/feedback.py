"""How controllers speak to the user: a banner for problems, the status bar for news, a dialog for failed writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feedback:
    error: Callable[..., None]  # (message, action label or None, callback or None): the banner above the view
    status: Callable[[str, int], None]  # (message, milliseconds)
    write_failed: Callable[[str], None]  # a dialog: nothing was overwritten, choose another place
    dialog_parent: Any  # the window, as parent of file dialogs
