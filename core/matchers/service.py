"""The matcher as a child process: `python -m core.matchers.service`, spoken to over its stdin and stdout.

The window runs the model here so that importing torch, loading weights and the forward pass never hold its
interpreter lock: its event loop stays responsive during a run. Messages are pickled tuples, framed by
`multiprocessing.connection`:

    parent -> child: ("match", request_id, image0, image1, MatchOptions) | ("cancel", request_id) | ("quit",)
    child -> parent: ("ready",) | ("progress", request_id, stage, fraction) | ("done", request_id, MatchResult)
                     | ("cancelled", request_id) | ("failed", request_id, kind, message)

`kind` is "weights", "input", "memory" or "internal"; an internal failure's traceback goes to stderr.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

from core.errors import MatchCancelled, failure_kind


def serve(inbox: Connection, outbox: Connection) -> None:
    import torch

    from core.matchers.match import match_pair

    # Denormal floats only slow the CPU down (3-4x with some weights); they carry no information at this precision.
    torch.set_flush_denormal(True)
    requests: queue.Queue[tuple[Any, ...]] = queue.Queue()
    cancelled: set[int] = set()
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            outbox.send(message)

    def read() -> None:
        while True:
            try:
                message = inbox.recv()
            except (EOFError, OSError):
                requests.put(("quit",))
                return
            if message[0] == "cancel":
                cancelled.add(message[1])
            else:
                requests.put(message)
            if message[0] == "quit":
                return

    threading.Thread(target=read, name="match-service-inbox", daemon=True).start()
    send(("ready",))
    while True:
        message = requests.get()
        if message[0] == "quit":
            return
        _, request_id, image0, image1, options = message

        def report(stage: str, fraction: float, rid: int = request_id) -> None:
            send(("progress", rid, stage, fraction))

        def stop_asked(rid: int = request_id) -> bool:
            return rid in cancelled

        try:
            result = match_pair(image0, image1, options, progress=report, cancelled=stop_asked)
            send(("done", request_id, result))
        except MatchCancelled:
            send(("cancelled", request_id))
        except BaseException as exc:  # the service outlives any one request
            kind = failure_kind(exc)
            if kind == "internal":
                traceback.print_exc(file=sys.stderr)
            send(("failed", request_id, kind, str(exc) or type(exc).__name__))
        finally:
            cancelled.discard(request_id)


def main() -> None:
    if hasattr(os, "nice"):
        os.nice(10)  # background work: the window's event loop wins the CPU when both want it
    inbox = Connection(os.dup(0))
    outbox = Connection(os.dup(1))
    os.dup2(2, 1)  # a stray print must not corrupt the message stream
    serve(inbox, outbox)


if __name__ == "__main__":
    main()
