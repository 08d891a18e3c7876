"""Headless matching: `match-inspector match` for one pair, `match-inspector batch` for a list of pairs.

Exit codes: 0 done; 2 bad input or usage (one line on stderr, no traceback); 1 internal error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WeightsError
from .export import FORMATS, ExportError, build_match_file, read_matches, write_matches
from .geometry import GeometryOptions, estimate
from .io import ImageLoadError, load_image, write_atomically
from .types import DEFAULT_DISPLAY_THRESHOLD, DEFAULT_INTERNAL_THRESHOLD, MatchOptions, MatchResult

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(Exception):
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
    parser.add_argument("--no-exif", action="store_true", help="ignore EXIF orientation")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="match-inspector", description="Match image pairs with EfficientLoFTR, headless.")
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
    if path.suffix.lower() not in formats:
        raise UsageError(f"output must end in one of {', '.join(formats)}: {path.name}")
    if not path.parent.exists():
        raise UsageError(f"output folder does not exist: {path.parent}")


def command_match(args: argparse.Namespace) -> int:
    output = Path(args.output)
    _check_output(output, FORMATS)
    if args.viz:
        _check_output(Path(args.viz), (".png",))
    started = time.perf_counter()
    image0, image1, result = _match(args.image0, args.image1, args)
    geometry = _geometry(result, args)
    match_file = build_match_file(result, (str(args.image0), str(args.image1)), args.threshold, geometry)
    write_matches(output, match_file)
    if args.viz:
        from .drawing import draw_matches

        picture = draw_matches(image0.pixels, image1.pixels, match_file.kpts0, match_file.kpts1, match_file.scores)
        write_atomically(args.viz, lambda tmp: picture.save(tmp, format="PNG"))
    line = f"{len(match_file.scores)} matches (of {len(result)}) in {time.perf_counter() - started:.2f} s"
    if geometry is not None:
        line += f"; {geometry.model}: " + (f"{geometry.inlier_count} inliers" if geometry.ok else geometry.status)
    print(f"{line} -> {output}")
    return EXIT_OK


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
    suffix = "." + args.format if args.format in ("npz", "json", "csv") else ".npz"
    started = time.perf_counter()
    done = skipped = matches = 0
    failures: list[str] = []
    progress = tqdm(jobs, unit="pair", disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
    for job in progress:
        target = out / "pairs" / (job.stem + suffix)
        if target.exists():  # resumable: a pair already written is not matched again
            skipped += 1
            continue
        progress.set_postfix_str(job.stem[:40])
        try:
            _, _, result = _match(images / job.name0, images / job.name1, args)
        except (ImageLoadError, ValueError) as exc:
            failures.append(f"{job.name0} {job.name1}: {exc}")
            continue
        match_file = build_match_file(result, (job.name0, job.name1), args.threshold, _geometry(result, args))
        write_matches(target, match_file)
        done += 1
        matches += len(match_file.scores)
    progress.close()
    if args.format in ("hloc", "colmap"):
        _write_collection(jobs, out, images, args)
    elapsed = time.perf_counter() - started
    rate = f" ({elapsed / done:.2f} s per matched pair)" if done else ""
    print(
        f"{len(jobs)} pairs: {done} matched, {skipped} already done, {len(failures)} failed; "
        f"{matches} matches; {elapsed:.1f} s{rate} -> {out}"
    )
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    return EXIT_BAD_INPUT if failures else EXIT_OK


def _write_collection(jobs: list[_PairJob], out: Path, images: Path, args: argparse.Namespace) -> None:
    pairs, sizes = [], {}
    for job in jobs:
        path = out / "pairs" / (job.stem + ".npz")
        if not path.exists():
            continue
        data = read_matches(path)
        pairs.append((job.name0, job.name1, data.kpts0, data.kpts1, data.scores))
        for key, name in (("image0_size", job.name0), ("image1_size", job.name1)):
            sizes[name] = tuple(data.provenance[key])
    if args.format == "hloc":
        from .hloc_export import write_hloc

        write_hloc(pairs, out / "features.h5", out / "matches.h5", sizes)
    else:
        from .colmap_export import write_colmap

        write_colmap(pairs, out / "database.db", sizes)


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
    except UsageError as exc:
        text = str(exc)
        print(text if text.startswith("match-inspector") else f"match-inspector: {text}", file=sys.stderr)
    except WeightsError as exc:
        print(f"match-inspector: {exc} Meanwhile, --matcher sift needs no weights.", file=sys.stderr)
    except (ImageLoadError, ExportError, ValueError) as exc:
        print(f"match-inspector: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("match-inspector: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, not a traceback; MATCH_INSPECTOR_DEBUG=1 shows it
        if os.environ.get("MATCH_INSPECTOR_DEBUG") == "1":
            raise
        print(f"match-inspector: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    return EXIT_BAD_INPUT


def main() -> None:
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
