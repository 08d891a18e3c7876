"""`--executor ray`: the batch's pairs on a Ray cluster (or a Ray instance started on this machine).

One actor per worker keeps its model loaded; pairs go to the actors in chunks, at most CHUNKS_PER_WORKER in flight
each. Actors restart when their process dies, and Ray sends the chunk they held to the restarted actor (up to TRIES
times; then those pairs are listed as failed). Workers read the images from `BatchSettings.images`: every machine must
see the images (and the weights, when given as a path) at the same path, e.g. a shared file system. Only this module
imports Ray.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from core.batch.driver import BatchSettings, PairOutcome, match_chunk
from core.batch.executors import CHUNKS_PER_WORKER, TRIES, chunk_size, chunked, lost_outcomes
from core.batch.outputs import PairJob
from core.errors import UserError
from core.matchers.worker_process import WorkerSetup, prepare_worker

INSTALL_HINT = 'pip install "match-inspector[ray]"'
LARGEST_CHUNK = 8  # pairs: at 0.1 s a pair on a GPU, under a second between a worker's results


class RayError(UserError):
    """Ray is missing, or the cluster cannot hold the workers asked for."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


class PairWorker:
    """The Ray actor: its process keeps the model loaded between chunks (core.matchers.eloftr caches it)."""

    def __init__(self, threads: int, setup: WorkerSetup | None) -> None:
        prepare_worker(threads, setup, ignore_interrupt=False)

    def match(self, chunk: Sequence[PairJob], settings: BatchSettings) -> tuple[list[PairOutcome], bool]:
        """The chunk's outcomes, and whether this actor is a replacement for one that died."""
        import ray

        return match_chunk(chunk, settings), ray.get_runtime_context().was_current_actor_reconstructed


class RayExecutor:
    """`address`: the cluster to join (ray.init's address, e.g. HEAD:6379); None is Ray's own choice: RAY_ADDRESS,
    else a cluster started with `ray start` on this machine, else a new local instance. `workers`: default one per
    `gpus_per_worker` GPUs, else one per node."""

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        gpus_per_worker: float = 0.0,
        worker_setup: WorkerSetup | None = None,
    ) -> None:
        self.ray = _import_ray()
        self.workers = workers
        self.address = address
        self.gpus_per_worker = gpus_per_worker
        self.worker_setup = worker_setup
        self.replaced_workers = 0

    def _connect(self) -> bool:
        """Join the cluster (or start a local instance); whether this run connected and must disconnect, which stops
        an instance it started and, on a cluster, the actors it owns."""
        if self.ray.is_initialized():
            return False
        try:
            self.ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,  # workers' output would break the progress bar; their errors come back as ours
                logging_level=logging.ERROR,
            )
        except ConnectionError as exc:
            raise RayError(f"cannot reach the Ray cluster at {self.address}: {exc}") from exc
        return True

    def _plan(self) -> tuple[int, int]:
        """(workers, CPUs per worker) that the cluster can hold."""
        resources = self.ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 0)), float(resources.get("GPU", 0))
        workers = self.workers
        if workers is None:
            nodes = sum(1 for node in self.ray.nodes() if node.get("Alive"))
            workers = int(gpus // self.gpus_per_worker) if self.gpus_per_worker else max(1, nodes)
        if workers < 1 or cpus < workers or gpus < workers * self.gpus_per_worker:
            raise RayError(
                f"the Ray cluster has {cpus} CPUs and {gpus:g} GPUs: it cannot hold {workers} workers "
                f"with 1 CPU and {self.gpus_per_worker:g} GPUs each"
            )
        return workers, max(1, cpus // workers)

    def run(self, jobs: Sequence[PairJob], settings: BatchSettings) -> Iterator[PairOutcome]:
        if not jobs:  # everything was done before: no cluster to start
            return
        ray = self.ray
        connected = self._connect()
        actors: list[Any] = []
        try:
            workers, cpus = self._plan()
            actor_class = ray.remote(PairWorker).options(
                num_cpus=cpus,
                num_gpus=self.gpus_per_worker,
                max_restarts=-1,  # a dead worker is replaced...
                max_task_retries=TRIES - 1,  # ...and the chunk it held is sent to its replacement
            )
            actors = [actor_class.remote(cpus, self.worker_setup) for _ in range(workers)]
            shared = ray.put(settings)
            queue = deque(chunked(jobs, chunk_size(len(jobs), workers, LARGEST_CHUNK)))
            running: dict[Any, tuple[int, tuple[PairJob, ...]]] = {}
            load = [0] * workers
            replaced: set[int] = set()
            while queue or running:
                for index, actor in enumerate(actors):
                    while queue and load[index] < CHUNKS_PER_WORKER:
                        chunk = queue.popleft()
                        running[actor.match.remote(chunk, shared)] = (index, chunk)
                        load[index] += 1
                [ref], _ = ray.wait(list(running), num_returns=1)
                index, chunk = running.pop(ref)
                load[index] -= 1
                try:
                    outcomes, reconstructed = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    if exc.actor_init_failed:  # e.g. a node without match-inspector: every pair would fail alike
                        raise RayError(f"a Ray worker could not start: {str(exc).strip().splitlines()[-1]}") from exc
                    yield from lost_outcomes(chunk, TRIES)  # died on every try
                    continue
                except ray.exceptions.RayTaskError as exc:  # the work raised: weights or options, as in a local run
                    raise (exc.cause or exc) from None
                if reconstructed:
                    replaced.add(index)
                    self.replaced_workers = len(replaced)
                yield from outcomes
        finally:
            if connected:
                ray.shutdown()  # the actors go with their owner, a local instance with its driver
            else:
                for actor in actors:  # joined through the caller's connection: free what this run held
                    ray.kill(actor, no_restart=True)
