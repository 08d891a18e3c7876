"""Where the batch's pairs are matched on one machine: in one worker process (the default), or in N of them.

Both yield each pair's outcome as it completes (core.batch.driver.Executor); the driver writes the files. The
workers are processes of their own (core.matchers.worker_process) so that a pair whose matcher crashes (a signal in
native code) fails alone and the batch goes on. Ray's executor, for several machines, is in core.batch.ray_executor so
that a local run never imports Ray.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool

from core.batch.driver import BatchSettings, PairOutcome, match_chunk
from core.batch.outputs import PairJob
from core.matchers.worker_process import WorkerSetup, start_pool, stop_pool, submit

TRIES = 3  # a pair whose worker dies this many times is listed as failed (it may be what kills the worker)
CHUNKS_PER_WORKER = 2  # in flight per worker: the next chunk waits there while one runs, so no worker idles


def chunked(jobs: Sequence[PairJob], size: int) -> list[tuple[PairJob, ...]]:
    return [tuple(jobs[start : start + size]) for start in range(0, len(jobs), size)]


def chunk_size(count: int, workers: int, largest: int) -> int:
    """Pairs per chunk: up to `largest` for long runs (less scheduling), down to 1 so every worker gets work and the
    progress bar moves on short ones."""
    return max(1, min(largest, count // (workers * 8)))


def lost_outcomes(chunk: Sequence[PairJob], tries: int, death: str = "") -> list[PairOutcome]:
    """The chunk's pairs listed as failed; `death` says how the worker died the last time ("signal SIGFPE")."""
    reason = f"its worker died {tries} times while matching it" + (f" (last: {death})" if death else "")
    return [PairOutcome(job, None, reason) for job in chunk]


class ProcessExecutor:
    """`--executor local --workers N`: N spawned processes on this machine, each with cores / N threads, each
    loading the model once (core.matchers.eloftr keeps it). A worker that dies breaks the pool: a new pool takes over
    and the chunks that were in flight are matched again, each alone, so that a worker dying again was running that
    chunk: it is what kills it (listed as failed after TRIES deaths), and the chunks that were only beside it go on."""

    def __init__(self, workers: int, worker_setup: WorkerSetup | None = None) -> None:
        self.workers = workers
        self.threads: int | None = max(1, (os.cpu_count() or 1) // workers)
        self.in_flight = CHUNKS_PER_WORKER * workers
        self.worker_setup = worker_setup
        self.replaced_workers = 0

    def run(self, jobs: Sequence[PairJob], settings: BatchSettings) -> Iterator[PairOutcome]:
        if not jobs:  # everything was done before: no workers to start
            return
        # (chunk, tries): tries > 1 after a worker died with the chunk in flight; such a chunk runs alone
        queue = deque((chunk, 1) for chunk in chunked(jobs, 1))  # 1 pair a chunk: local messages cost little
        running: dict[Future[list[PairOutcome]], tuple[tuple[PairJob, ...], int]] = {}
        pool = start_pool(self.workers, self.threads, self.worker_setup)
        try:
            while queue or running:
                broken = False
                while queue and len(running) < self.in_flight:
                    chunk, tries = queue[0]
                    if running and (tries > 1 or any(t > 1 for _, t in running.values())):
                        break  # a chunk under suspicion waits for the others, or they wait for it
                    try:
                        future = submit(pool, match_chunk, chunk, settings)
                    except BrokenProcessPool:  # a worker died since the last results: the chunk waits for a new pool
                        broken = True
                        break
                    queue.popleft()
                    running[future] = (chunk, tries)
                finished = set() if broken else wait(running, return_when=FIRST_COMPLETED)[0]
                for future in finished:
                    try:
                        outcomes = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    del running[future]
                    yield from outcomes
                if broken:  # every chunk still in flight went down with the pool
                    death = stop_pool(pool)
                    self.replaced_workers += 1
                    for chunk, tries in reversed(list(running.values())):  # first in the queue, in their order
                        if tries >= TRIES:
                            yield from lost_outcomes(chunk, tries, death)
                        else:
                            queue.appendleft((chunk, tries + 1))
                    running.clear()
                    pool = start_pool(self.workers, self.threads, self.worker_setup)
        finally:
            stop_pool(pool)


class SerialExecutor(ProcessExecutor):
    """The default (`--workers 1`): the pairs one after another in one worker process, which keeps the model loaded
    and a new process's thread counts (torch's, OpenCV's), as this process would have. With one pair in flight, a
    worker that dies (a crash in the matcher's native code) was matching that pair: it fails alone, the rest go on."""

    def __init__(self, worker_setup: WorkerSetup | None = None) -> None:
        super().__init__(1, worker_setup)
        self.threads = None
        self.in_flight = 1
