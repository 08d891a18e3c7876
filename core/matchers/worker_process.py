"""Spawned worker processes for the matcher, so that a crash in its native code (torch, ONNX Runtime, OpenVINO: SIGSEGV,
SIGFPE) or the out-of-memory killer ends a worker, never the command: `match` runs its pair in one (run_in_worker),
`batch` its pairs in a pool of them (core.batch.executors). The window has its own long-lived one
(core.matchers.service).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any, TypeVar

from core.errors import MatcherDied, how_it_died

WorkerSetup = Callable[[], None]  # run once in each worker before its first pair (picklable: a module-level function)
T = TypeVar("T")


def prepare_worker(threads: int | None, setup: WorkerSetup | None, ignore_interrupt: bool) -> None:
    """A worker's share of the cores (torch and OpenCV threads; None keeps a new process's defaults), then the
    caller's setup. Local workers leave Ctrl+C to the command's process, which stops them."""
    if ignore_interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # also drops a Ctrl+C held back while it started (submit)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch when it is first imported here
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        import cv2

        cv2.setNumThreads(threads)
    if setup is not None:
        setup()


def start_pool(workers: int, threads: int | None, setup: WorkerSetup | None = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),  # fork would copy a process that may hold torch's thread pools
        initializer=prepare_worker,
        initargs=(threads, setup, True),
    )


def submit(pool: ProcessPoolExecutor, function: Callable[..., T], *args: Any) -> Future[T]:
    """pool.submit(), with Ctrl+C held back while it starts a worker: the worker inherits the held signal and drops
    it when it starts ignoring Ctrl+C (prepare_worker), and this process gets it once submit() returns. A Ctrl+C
    that reaches the whole process group (as a terminal's does) then ends the command without a KeyboardInterrupt
    traceback from a worker that was still importing."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: Ctrl+C is not a signal sent to the process group there
        return pool.submit(function, *args)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(function, *args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def stop_pool(pool: ProcessPoolExecutor) -> str:
    """End the workers now, not after their current pair (Python < 3.14 has no public call for it). Returns how a
    worker that broke the pool died ("signal SIGFPE"), or "" when none did."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
    # SIGTERM is how this function, and a pool that broke, end the other workers.
    deaths = [p.exitcode for p in processes if p.exitcode not in (None, 0, -signal.SIGTERM)]
    return how_it_died(deaths[0]) if deaths else ""


def run_in_worker(function: Callable[..., T], *args: Any) -> T:
    """function(*args) in a new worker process with a new process's thread defaults: its result, or what it raised
    (the same type, the worker's traceback chained to it); MatcherDied, saying how, when the worker dies."""
    pool = start_pool(1, None)
    try:
        result = submit(pool, function, *args).result()
    except BrokenProcessPool:
        raise MatcherDied(f"the matcher process died ({stop_pool(pool) or 'cause unknown'})") from None
    except KeyboardInterrupt:  # Ctrl+C here: the worker goes now, not after its run
        stop_pool(pool)
        raise
    except BaseException:
        # The worker raised and is idle: a clean shutdown. Ending it with a signal could leave its queue's
        # semaphore behind, and Python's resource tracker would add a warning under the one-line message.
        pool.shutdown()
        raise
    pool.shutdown()
    return result
