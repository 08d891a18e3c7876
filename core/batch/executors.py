"""Where the batch's pairs are matched on one machine: in this process (the default), or in N worker processes.

Both yield each pair's outcome as it completes (core.batch.driver.Executor); the driver writes the files. Ray's
executor, for several machines, is in core.batch.ray_executor so that a local run never imports Ray.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from core.batch.driver import BatchSettings, PairOutcome, match_chunk, match_job
from core.batch.outputs import PairJob

WorkerSetup = Callable[[], None]  # run once in each worker before its first pair (picklable: a module-level function)

TRIES = 3  # a pair whose worker dies this many times is listed as failed (it may be what kills the worker)
CHUNKS_PER_WORKER = 2  # in flight per worker: the next chunk waits there while one runs, so no worker idles


class SerialExecutor:
    """Today's behaviour: every pair in this process, one after another; the model loads once."""

    replaced_workers = 0

    def run(self, jobs: Sequence[PairJob], settings: BatchSettings) -> Iterator[PairOutcome]:
        for job in jobs:
            yield match_job(job, settings)


def chunked(jobs: Sequence[PairJob], size: int) -> list[tuple[PairJob, ...]]:
    return [tuple(jobs[start : start + size]) for start in range(0, len(jobs), size)]


def chunk_size(count: int, workers: int, largest: int) -> int:
    """Pairs per chunk: up to `largest` for long runs (less scheduling), down to 1 so every worker gets work and the
    progress bar moves on short ones."""
    return max(1, min(largest, count // (workers * 8)))


def lost_outcomes(chunk: Sequence[PairJob], tries: int) -> list[PairOutcome]:
    return [PairOutcome(job, None, f"its worker died {tries} times while matching it") for job in chunk]


def prepare_worker(threads: int, setup: WorkerSetup | None, ignore_interrupt: bool) -> None:
    """A worker's share of the cores (torch and OpenCV threads), then the caller's setup. Local workers leave
    Ctrl+C to the driver, which stops them."""
    if ignore_interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by torch when it is first imported here
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    import cv2

    cv2.setNumThreads(threads)
    if setup is not None:
        setup()


class ProcessExecutor:
    """`--executor local --workers N`: N spawned processes on this machine, each with cores / N threads, each
    loading the model once (core.matchers.eloftr keeps it). A worker that dies breaks the pool: a new pool takes over
    and the chunks that were in flight are matched again."""

    def __init__(self, workers: int, worker_setup: WorkerSetup | None = None) -> None:
        self.workers = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.worker_setup = worker_setup
        self.replaced_workers = 0

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=get_context("spawn"),  # fork would copy a process that may hold torch's thread pools
            initializer=prepare_worker,
            initargs=(self.threads, self.worker_setup, True),
        )

    def run(self, jobs: Sequence[PairJob], settings: BatchSettings) -> Iterator[PairOutcome]:
        if not jobs:  # everything was done before: no workers to start
            return
        queue = deque((chunk, 1) for chunk in chunked(jobs, 1))  # 1 pair a chunk: local messages cost little
        running: dict[Future[list[PairOutcome]], tuple[tuple[PairJob, ...], int]] = {}
        pool = self._start()
        try:
            while queue or running:
                broken = False
                while queue and len(running) < CHUNKS_PER_WORKER * self.workers:
                    chunk, tries = queue[0]
                    try:
                        future = pool.submit(match_chunk, chunk, settings)
                    except BrokenProcessPool:  # a worker died since the last results: the chunk waits for a new pool
                        broken = True
                        break
                    queue.popleft()
                    running[future] = (chunk, tries)
                finished = set() if broken else wait(running, return_when=FIRST_COMPLETED)[0]
                for future in finished:
                    chunk, tries = running[future]
                    try:
                        outcomes = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del running[future]
                    yield from outcomes
                if broken:  # every chunk still in flight went down with the pool
                    _stop(pool)
                    self.replaced_workers += 1
                    for chunk, tries in running.values():
                        if tries >= TRIES:
                            yield from lost_outcomes(chunk, tries)
                        else:
                            queue.append((chunk, tries + 1))
                    running.clear()
                    pool = self._start()
        finally:
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """End the workers now, not after their current pair (Python < 3.14 has no public call for it)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
