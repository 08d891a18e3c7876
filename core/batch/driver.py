"""`match-inspector batch`: the pairs to match, the work one pair takes, and the driver that writes the outputs.

The work (`match_job`) runs wherever the executor puts it: in this process, in local worker processes or on Ray
workers; it reads the two images from the batch's image folder and returns the pair's MatchFile or why the pair
failed. Only the driver (`run_batch`) writes: each pair file atomically as its result comes back, so a pair that is
matched again after a worker died is written once, then the lists and the hloc/COLMAP collection, also when the run
is interrupted (they cover what is done; a re-run resumes from the pair files).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.analysis.geometry import GeometryOptions, GeometryResult, estimate
from core.batch.outputs import COLLECTION_FILES, PairJob, is_reusable, pair_path, write_collection, write_lists
from core.errors import UserError
from core.formats.files import file_sha256, left_over_temporaries
from core.formats.images import ImageLoadError, load_image
from core.formats.match_files import MatchFile, build_match_file, write_matches
from core.matchers.output_settings import OutputSettings
from core.types import MatchResult


class PairsFileError(UserError):
    """A pairs file that cannot be read or lists nothing usable."""


def read_pairs(path: Path) -> list[PairJob]:
    """The pairs of a pairs file ('name0 name1' per line, '#' comments), in order; a pair listed twice is kept once
    (it would be written to the same file)."""
    if not path.is_file():
        raise PairsFileError(f"pairs file not found: {path}")
    jobs: dict[PairJob, None] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise PairsFileError(f"{path.name}:{number}: expected 'name0 name1', got '{line}'")
        jobs.setdefault(PairJob(parts[0], parts[1]), None)
    if not jobs:
        raise PairsFileError(f"{path.name} lists no pairs")
    return list(jobs)


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs to turn a pair into its match file; small and picklable, sent once per worker."""

    images: Path  # the folder the pair names are relative to: workers on other machines must see it at this path
    output: OutputSettings  # recorded in each file's provenance: resume compares the record


@dataclass(frozen=True)
class PairOutcome:
    job: PairJob
    match_file: MatchFile | None  # None when the pair failed
    reason: str = ""  # why it failed: one line for failed_pairs.txt


def fit_geometry(result: MatchResult, threshold: float, options: GeometryOptions | None) -> GeometryResult | None:
    """The geometric model of the matches kept at `threshold`, when one was asked for."""
    if options is None:
        return None
    kept = result.keep(threshold)
    return estimate(result.kpts0[kept], result.kpts1[kept], options)


def match_job(job: PairJob, settings: BatchSettings) -> PairOutcome:
    """One pair's match file. A pair whose images cannot be read fails alone; weights and option problems raise and
    stop the batch (every pair would fail the same way)."""
    # The model loads once per process and stays cached there; so do a detector-based matcher's features of each image
    from core.matchers.match import FEATURES, match_pair

    path0, path1 = settings.images / job.name0, settings.images / job.name1
    output = settings.output
    try:
        image0 = load_image(path0, apply_exif=output.apply_exif)
        image1 = load_image(path1, apply_exif=output.apply_exif)
    except ImageLoadError as exc:
        return PairOutcome(job, None, str(exc))
    result = match_pair(image0, image1, output.match, cache=FEATURES)
    match_file = build_match_file(
        result,
        (job.name0, job.name1),
        output.threshold,
        fit_geometry(result, output.threshold, output.geometry),
        orientations=(image0.orientation, image1.orientation),
        image_hashes=(file_sha256(path0), file_sha256(path1)),
        options=output.record(),
    )
    return PairOutcome(job, match_file)


def match_chunk(jobs: Sequence[PairJob], settings: BatchSettings) -> list[PairOutcome]:
    """The unit a worker is sent: a few pairs, so that scheduling costs little next to matching."""
    return [match_job(job, settings) for job in jobs]


class Executor(Protocol):
    """Runs `match_job` on every pair and yields the outcomes as they complete, in any order. Closing the iterator
    stops the outstanding work. A pair whose worker died is matched again, on a replacement worker."""

    replaced_workers: int  # workers lost during the run and replaced

    def run(self, jobs: Sequence[PairJob], settings: BatchSettings) -> Iterator[PairOutcome]: ...


@dataclass
class BatchSummary:
    total: int
    reused: int  # already done in an earlier run
    matched: int = 0
    matches: int = 0
    failures: list[tuple[PairJob, str]] = field(default_factory=list)
    replaced_workers: int = 0
    interrupted: bool = False
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        return self.reused + self.matched


def run_batch(
    jobs: Sequence[PairJob],
    settings: BatchSettings,
    out: Path,
    fmt: str,
    executor: Executor,
    show_progress: bool = True,
) -> BatchSummary:
    """Match the pairs not already done, writing each pair file as its result arrives; then the lists and the
    collection for every pair done. Ctrl+C stops the work and still writes them (summary.interrupted)."""
    from tqdm import tqdm

    started = time.perf_counter()
    for folder in (out, out / "pairs"):  # a killed run's half-written files: only this run's driver writes here
        for leftover in left_over_temporaries(folder):
            leftover.unlink(missing_ok=True)
    position = {job: index for index, job in enumerate(jobs)}
    # resumable: a pair already written (whole, same pair, same options) is not matched again
    record = settings.output.record()
    written = [job for job in jobs if is_reusable(pair_path(out, job, fmt), job, record)]
    reused = set(written)
    todo = [job for job in jobs if job not in reused]
    summary = BatchSummary(total=len(jobs), reused=len(written))
    progress = tqdm(
        total=len(jobs),
        initial=len(written),
        unit="pair",
        disable=not show_progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    if todo and settings.output.match.matcher == "eloftr" and settings.output.match.backend == "auto":
        from core.matchers.backend_choice import prepare_for_batch
        from core.matchers.worker_process import run_in_worker

        # In a worker: the driver never imports torch. The workers then each choose from the verdict it left.
        print(f"match-inspector: {run_in_worker(prepare_for_batch, settings.output.match, len(todo))}", file=sys.stderr)
    outcomes = executor.run(todo, settings)
    try:
        for outcome in outcomes:
            if outcome.match_file is None:
                summary.failures.append((outcome.job, outcome.reason))
            else:
                write_matches(pair_path(out, outcome.job, fmt), outcome.match_file)
                written.append(outcome.job)
                summary.matched += 1
                summary.matches += len(outcome.match_file.scores)
            progress.set_postfix_str(outcome.job.stem[:40], refresh=False)
            progress.update()
    except KeyboardInterrupt:
        summary.interrupted = True
        # Ctrl+C can land after a pair file was renamed into place but before the loop counted it: the lists
        # cover every whole file that is there, as a resumed run would find them.
        counted = set(written)
        for job in todo:
            if job not in counted and is_reusable(pair_path(out, job, fmt), job, record):
                written.append(job)
                summary.matched += 1
    finally:
        if hasattr(outcomes, "close"):
            outcomes.close()  # stops the executor's outstanding work (a no-op once it has finished)
        progress.close()
        summary.replaced_workers = executor.replaced_workers
    # The lists and collection in the pairs file's order, whatever order the workers finished in.
    written.sort(key=position.__getitem__)
    summary.failures.sort(key=lambda failure: position[failure[0]])
    write_lists(out, written, summary.failures)
    if fmt in COLLECTION_FILES:
        write_collection(written, out, fmt)
    summary.elapsed = time.perf_counter() - started
    return summary
