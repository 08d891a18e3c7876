"""Headless matching: `match-inspector match` for one pair, `match-inspector batch` for a list of pairs.

Exit codes: 0 done; 2 bad input or usage (one line on stderr, no traceback); 1 internal error (one line on stderr,
the traceback appended to the error log it names).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ExportError, UserError, WeightsError
from .export import FORMATS, build_match_file, read_matches, write_matches
from .geometry import GeometryOptions, estimate
from .io import ImageLoadError, check_writable, file_sha256, load_image, stored_size, to_stored_frame, write_atomically
from .types import DEFAULT_DISPLAY_THRESHOLD, DEFAULT_INTERNAL_THRESHOLD, MatchOptions, MatchResult
from .version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(UserError):
    """Bad command-line usage or input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _resize(text: str) -> tuple[int | None, tuple[int, int] | None]:
    """'640' -> long side 640; '640x480' -> fixed width x height; 'full' -> no resize (capped)."""
    if text == "full":
        return None, None
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not LONG, WxH or 'full'")
    if match.group(2):
        return None, (int(match.group(1)), int(match.group(2)))
    return int(match.group(1)), None


def _threshold(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matcher", choices=["eloftr", "sift"], default="eloftr")
    parser.add_argument("--weights", help="Hub id, model folder or checkpoint file (default: the Hub model)")
    parser.add_argument(
        "--resize",
        type=_resize,
        default=(640, None),
        metavar="LONG|WxH|full",
        help="inference size: long side (aspect kept), fixed WxH, or full (default 640)",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=DEFAULT_DISPLAY_THRESHOLD,
        help="keep matches with score >= T (default 0.2)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--variant", choices=["full", "opt"], default="full")
    parser.add_argument(
        "--backend",
        choices=["torch", "onnxruntime", "openvino"],
        default="torch",
        help="run the model in PyTorch, or its ONNX export in ONNX Runtime / OpenVINO (extras [onnx] / [openvino])",
    )
    parser.add_argument("--onnx", help="exported model to run (default: export once into the cache)")
    parser.add_argument("--geometry", choices=["H", "F"], help="fit H or F (MAGSAC++) and flag inliers")
    parser.add_argument("--geometry-threshold", type=float, default=3.0, help="inlier threshold in pixels")
    parser.add_argument(
        "--no-exif",
        action="store_true",
        help="ignore EXIF orientation: match the stored pixels (hloc/COLMAP exports use the stored frame either way)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="match-inspector", description="Match image pairs with EfficientLoFTR, headless.")
    parser.add_argument("--version", action="version", version=f"match-inspector {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    match = commands.add_parser("match", help="match one pair")
    match.add_argument("image0")
    match.add_argument("image1")
    match.add_argument("-o", "--output", required=True, help="OUT.csv, OUT.json or OUT.npz")
    match.add_argument("--viz", help="also write the picture of the matches (PNG)")
    _model_arguments(match)
    batch = commands.add_parser("batch", help="match every pair listed in a file")
    batch.add_argument("--pairs", required=True, help="text file, one 'name0 name1' pair per line")
    batch.add_argument("--images", required=True, help="folder the image names are relative to")
    batch.add_argument("-o", "--output", required=True, help="output folder")
    batch.add_argument("--format", choices=["npz", "json", "csv", "hloc", "colmap"], default="npz")
    batch.add_argument("--no-progress", action="store_true")
    _model_arguments(batch)
    export = commands.add_parser("export-onnx", help="export the matcher to ONNX (any image size, multiples of 32)")
    export.add_argument("--weights", help="Hub id, model folder or checkpoint file (default: the Hub model)")
    export.add_argument("--variant", choices=["full", "opt"], default="full")
    export.add_argument("-o", "--output", required=True, help="OUT.onnx")
    return parser


def _options(args: argparse.Namespace) -> MatchOptions:
    long_side, size = args.resize
    return MatchOptions(
        matcher=args.matcher,
        weights=args.weights,
        device=args.device,
        precision=args.precision,
        long_side=long_side,
        size=size,
        variant=args.variant,
        internal_threshold=min(DEFAULT_INTERNAL_THRESHOLD, args.threshold),
        backend=args.backend,
        onnx_model=args.onnx,
    )


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that decide a pair's output, as recorded in its provenance: resume re-matches when they differ."""
    long_side, size = args.resize
    return {
        "matcher": args.matcher,
        "weights": args.weights,
        "resize": [long_side, list(size) if size else None],
        "threshold": args.threshold,
        "precision": args.precision,
        "variant": args.variant,
        "geometry": args.geometry,
        "geometry_threshold_px": args.geometry_threshold,
        "exif": not args.no_exif,
    }


def _match(path0: str | Path, path1: str | Path, args: argparse.Namespace) -> tuple[Any, Any, MatchResult]:
    from .matching import match_pair

    image0 = load_image(path0, apply_exif=not args.no_exif)
    image1 = load_image(path1, apply_exif=not args.no_exif)
    return image0, image1, match_pair(image0, image1, _options(args))


def _geometry(result: MatchResult, args: argparse.Namespace) -> Any:
    if not args.geometry:
        return None
    kept = result.keep(args.threshold)
    return estimate(
        result.kpts0[kept],
        result.kpts1[kept],
        GeometryOptions(model=args.geometry, threshold_px=args.geometry_threshold),
    )


def _check_output(path: Path, formats: tuple[str, ...]) -> None:
    """Before any matching: the name is right and the file can be written."""
    if path.suffix.lower() not in formats:
        raise UsageError(f"output must end in one of {', '.join(formats)}: {path.name}")
    if not path.parent.exists():
        raise UsageError(f"output folder does not exist: {path.parent}")
    check_writable(path)


def _write_picture(path: Path, picture: Any) -> None:
    try:
        write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"))
    except OSError as exc:
        raise ExportError(f"cannot write {path.name}: {exc.strerror or exc}") from exc


def command_match(args: argparse.Namespace) -> int:
    output = Path(args.output)
    _check_output(output, FORMATS)
    if args.viz:
        _check_output(Path(args.viz), (".png",))
    started = time.perf_counter()
    image0, image1, result = _match(args.image0, args.image1, args)
    geometry = _geometry(result, args)
    match_file = build_match_file(
        result,
        (str(args.image0), str(args.image1)),
        args.threshold,
        geometry,
        orientations=(image0.orientation, image1.orientation),
        options=run_options(args),
    )
    write_matches(output, match_file)
    if args.viz:
        _write_picture(Path(args.viz), _picture(image0, image1, match_file, result, geometry, args))
    line = f"{len(match_file.scores)} matches (of {len(result)}) in {time.perf_counter() - started:.2f} s"
    if geometry is not None:
        line += f"; {geometry.model}: " + (f"{geometry.inlier_count} inliers" if geometry.ok else geometry.status)
    print(f"{line} -> {output}")
    return EXIT_OK


def _picture(
    image0: Any, image1: Any, match_file: Any, result: MatchResult, geometry: Any, args: argparse.Namespace
) -> Any:
    """The window's picture of the kept matches: the same colour function (inlier/outlier when --geometry), caption
    and legend."""
    from .drawing import caption, draw_matches, line_colors, score_range
    from .geometry import assess

    verdict = None
    if geometry is not None and geometry.ok:
        colors = line_colors("inlier", match_file.scores, inliers=geometry.inliers)
    else:
        colors = line_colors("confidence", match_file.scores, score_range(result.scores))
    if geometry is not None:
        verdict = assess(geometry.model, geometry.ok, geometry.inlier_count, len(match_file.scores), geometry.status)
    names = (Path(args.image0).name, Path(args.image1).name)
    text = caption(
        names,
        result.info.matcher,
        args.threshold,
        len(match_file.scores),
        len(result),
        None,
        verdict.label if verdict is not None else None,
    )
    return draw_matches(
        image0.pixels,
        image1.pixels,
        match_file.kpts0,
        match_file.kpts1,
        match_file.scores,
        colors=colors.rgb(),
        caption=text,
        legend=colors.legend,
    )


@dataclass
class _PairJob:
    name0: str
    name1: str

    @property
    def stem(self) -> str:
        return f"{self.name0.replace('/', '-')}__{self.name1.replace('/', '-')}"


def read_pairs(path: Path) -> list[_PairJob]:
    if not path.is_file():
        raise UsageError(f"pairs file not found: {path}")
    jobs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise UsageError(f"{path.name}:{number}: expected 'name0 name1', got '{line}'")
        jobs.append(_PairJob(parts[0], parts[1]))
    if not jobs:
        raise UsageError(f"{path.name} lists no pairs")
    return jobs


FAILED_PAIRS = "failed_pairs.txt"
MATCHED_PAIRS = "pairs_matched.txt"
COLLECTION_FILES = {"hloc": ("features.h5", "matches.h5"), "colmap": ("database.db",)}


def _reusable(path: Path, job: _PairJob, options: dict[str, Any]) -> bool:
    """A pair output written before counts as done only if it reads back whole, is this pair, and was made with
    these options; anything else (empty, truncated, another run's file) is matched again."""
    if not path.is_file():
        return False
    try:
        done = read_matches(path)
    except ExportError:
        return False
    record = done.provenance
    same_options = json.loads(json.dumps(options)) == record.get("options")
    return record.get("image0") == job.name0 and record.get("image1") == job.name1 and same_options


def _batch_targets(out: Path, fmt: str) -> list[Path]:
    return [out / name for name in (FAILED_PAIRS, MATCHED_PAIRS, *COLLECTION_FILES.get(fmt, ()))]


def command_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    jobs = read_pairs(Path(args.pairs))
    images = Path(args.images)
    if not images.is_dir():
        raise UsageError(f"image folder not found: {images}")
    out = Path(args.output)
    try:
        (out / "pairs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    for target in [out / "pairs" / "pair.npz", *_batch_targets(out, args.format)]:
        check_writable(target)  # before hours of matching, not after
    suffix = "." + args.format if args.format in ("npz", "json", "csv") else ".npz"
    options = run_options(args)
    started = time.perf_counter()
    done = skipped = matches = 0
    written: list[_PairJob] = []
    failures: list[tuple[_PairJob, str]] = []
    progress = tqdm(jobs, unit="pair", disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for job in progress:
            target = out / "pairs" / (job.stem + suffix)
            if _reusable(target, job, options):  # resumable: a pair already written is not matched again
                skipped += 1
                written.append(job)
                continue
            progress.set_postfix_str(job.stem[:40])
            path0, path1 = images / job.name0, images / job.name1
            try:
                image0, image1, result = _match(path0, path1, args)
            except ImageLoadError as exc:  # this pair's input; weights and options problems stop the batch
                failures.append((job, str(exc)))
                continue
            match_file = build_match_file(
                result,
                (job.name0, job.name1),
                args.threshold,
                _geometry(result, args),
                orientations=(image0.orientation, image1.orientation),
                image_hashes=(file_sha256(path0), file_sha256(path1)),
                options=options,
            )
            write_matches(target, match_file)
            written.append(job)
            done += 1
            matches += len(match_file.scores)
    finally:
        progress.close()
    _write_lists(out, written, failures)
    if args.format in COLLECTION_FILES:
        _write_collection(written, out, args.format)
    elapsed = time.perf_counter() - started
    rate = f" ({elapsed / done:.2f} s per matched pair)" if done else ""
    listed = f", listed in {out / FAILED_PAIRS}" if failures else ""
    print(
        f"{len(jobs)} pairs: {done} matched, {skipped} already done, {len(failures)} failed{listed}; "
        f"{matches} matches; {elapsed:.1f} s{rate} -> {out}"
    )
    for job, reason in failures:
        print(f"failed: {job.name0} {job.name1}: {reason}", file=sys.stderr)
    return EXIT_BAD_INPUT if failures else EXIT_OK


def _write_text(path: Path, text: str) -> None:
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text))
    except OSError as exc:
        raise ExportError(f"cannot write {path.name}: {exc.strerror or exc}") from exc


def _write_lists(out: Path, written: list[_PairJob], failures: list[tuple[_PairJob, str]]) -> None:
    """pairs_matched.txt: the pairs that have outputs (the pairs file to give hloc or COLMAP); failed_pairs.txt:
    what failed and why, in the pairs-file format (reasons as comments), so it can be fed back after a fix."""
    _write_text(out / MATCHED_PAIRS, "".join(f"{job.name0} {job.name1}\n" for job in written))
    failed = "".join(f"# {reason}\n{job.name0} {job.name1}\n" for job, reason in failures)
    _write_text(out / FAILED_PAIRS, failed)


def _write_collection(jobs: list[_PairJob], out: Path, fmt: str) -> None:
    """hloc/COLMAP files from the pair outputs, in the stored pixel frame those tools read."""
    from .hloc_export import PairMatches

    pairs, sizes = [], {}
    for job in jobs:
        data = read_matches(out / "pairs" / (job.stem + ".npz"))
        kpts = []
        for side, (keypoints, name) in enumerate(((data.kpts0, job.name0), (data.kpts1, job.name1))):
            orientation = int(data.provenance.get(f"image{side}_exif_orientation", 1))
            shown = data.image_sizes()[side]
            kpts.append(to_stored_frame(keypoints, orientation, shown).astype(np.float32))
            sizes[name] = stored_size(orientation, shown)
        pairs.append(PairMatches(job.name0, job.name1, kpts[0], kpts[1], data.scores))
    try:
        if fmt == "hloc":
            from .hloc_export import write_hloc

            write_hloc(pairs, out / "features.h5", out / "matches.h5", sizes)
        else:
            from .colmap_export import write_colmap

            write_colmap(pairs, out / "database.db", sizes)
    except OSError as exc:
        raise ExportError(f"cannot write the {fmt} files in {out}: {exc.strerror or exc}") from exc


def error_log_path() -> Path:
    """Where internal errors' tracebacks go: MATCH_INSPECTOR_LOG, else the user's cache folder."""
    if os.environ.get("MATCH_INSPECTOR_LOG"):
        return Path(os.environ["MATCH_INSPECTOR_LOG"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "match-inspector" / "errors.log"


def _log_traceback() -> str:
    """Append the current traceback to the error log; the words that point the user at it."""
    path = error_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} match-inspector {__version__}\n")
            log.write(traceback.format_exc())
        return f" (traceback in {path})"
    except OSError:
        return ""


def command_export_onnx(args: argparse.Namespace) -> int:
    from .onnx_export import export_onnx

    output = Path(args.output)
    _check_output(output, (".onnx",))
    started = time.perf_counter()
    metadata = export_onnx(args.weights, args.variant, output)
    print(
        f"exported the {args.variant} model (weights SHA-256 {metadata.weights_sha256[:12]}…) "
        f"in {time.perf_counter() - started:.1f} s -> {output}"
    )
    return EXIT_OK


COMMANDS = {"match": command_match, "batch": command_batch, "export-onnx": command_export_onnx}


def run_cli(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except WeightsError as exc:
        print(f"match-inspector: {exc} Meanwhile, --matcher sift needs no weights.", file=sys.stderr)
    except UserError as exc:
        text = str(exc)
        print(text if text.startswith("match-inspector") else f"match-inspector: {text}", file=sys.stderr)
    except KeyboardInterrupt:
        print("match-inspector: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, not a traceback; MATCH_INSPECTOR_DEBUG=1 shows it
        if os.environ.get("MATCH_INSPECTOR_DEBUG") == "1":
            raise
        where = _log_traceback()
        print(f"match-inspector: internal error: {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_BAD_INPUT


def main() -> None:
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
