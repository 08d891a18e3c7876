"""Match files: CSV, JSON and NPZ with the same content and provenance, written atomically, read back exactly.

Every file says what it holds: sizes are `[height, width]` under names that say so, coordinates are float pixels
(x, y) with pixel centres at integers, in the frame named by `frame` (the images as shown, EXIF orientation applied,
unless `--no-exif`), timings are in seconds (`timings_s`), and provenance names the app version and each image's
SHA-256. A CSV holds only the table (header on the first line); its provenance is the JSON file beside it,
`NAME.csv.provenance.json`.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ExportError
from core.formats.files import file_sha256, write_atomically
from core.formats.stored_arrays import flags, points, size_hw, values
from core.types import MatchResult
from core.version import __version__

FORMATS = (".csv", ".json", ".npz")
CSV_PROVENANCE_SUFFIX = ".provenance.json"
CSV_COLUMNS = ("index", "x0", "y0", "x1", "y1", "score")  # then "inlier", "residual_px" when geometry was fitted
UNITS = {
    "coordinates": "pixels",
    "scores": "matcher confidence in [0, 1] (similarity logits for the opt variant)",
    "timings_s": "seconds",
    "residual_px": "pixels",
}

__all__ = ["ExportError", "FORMATS", "MatchFile", "build_match_file", "provenance", "read_matches", "write_matches"]


@dataclass(frozen=True, eq=False)
class MatchFile:
    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    inliers: np.ndarray | None = None
    residuals: np.ndarray | None = None
    # Second-best separated peak / best of each match's coarse confidence (core.analysis.ambiguity); None without
    # coarse features.
    ambiguity: np.ndarray | None = None

    def image_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(height, width) of both images as recorded; (0, 0) where the file does not say."""
        sizes = []
        for side in (0, 1):
            # `image{i}_size` is the name files of version 0.1.0 used, also [height, width].
            value = self.provenance.get(f"image{side}_size_hw", self.provenance.get(f"image{side}_size"))
            sizes.append((int(value[0]), int(value[1])) if value else (0, 0))
        return sizes[0], sizes[1]


def provenance(
    result: MatchResult,
    image_paths: tuple[str | None, str | None],
    threshold: float,
    geometry: Any | None = None,
    *,
    orientations: tuple[int, int] = (1, 1),
    image_hashes: tuple[str | None, str | None] | None = None,
    options: dict[str, Any] | None = None,
    verdict: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """`orientations`: the EXIF orientation applied to each image (1: none); `image_hashes`: SHA-256 of the image
    files (default: hashed from `image_paths`); `options`: the run's options as given (the batch compares them on
    resume); `verdict`: how far the geometric check is trusted ("reliable", "unreliable" or "no model") and its
    words, written beside the model (or alone when there is none)."""
    if image_hashes is None:
        image_hashes = (
            file_sha256(image_paths[0]) if image_paths[0] else None,
            file_sha256(image_paths[1]) if image_paths[1] else None,
        )
    data: dict[str, Any] = {
        "app": "match-inspector",
        "app_version": __version__,
        "image0": image_paths[0],
        "image1": image_paths[1],
        "image0_sha256": image_hashes[0],
        "image1_sha256": image_hashes[1],
        "image0_size_hw": list(result.image_sizes[0]),
        "image1_size_hw": list(result.image_sizes[1]),
        "image0_exif_orientation": int(orientations[0]),
        "image1_exif_orientation": int(orientations[1]),
        "frame": "shown: EXIF orientation applied to the stored pixels (image*_exif_orientation; 1 = none)",
        **result.info.to_dict(),  # matcher, weights, device, precision, inference sizes [h, w], timings_s
        "threshold": threshold,
        "matches_total": len(result),
        "coordinates": "float pixels (x, y) in the original images, pixel centres at integers",
        "units": UNITS,
    }
    if options is not None:
        data["options"] = options
    if geometry is not None and getattr(geometry, "ok", False):
        data["geometry"] = {
            "model": geometry.model,
            "matrix": geometry.matrix.tolist(),
            "threshold_px": geometry.threshold_px,
            "inliers": geometry.inlier_count,
        }
    if verdict is not None:
        data["geometry_verdict"], data["geometry_assessment"] = verdict
        if "geometry" in data:
            data["geometry"]["verdict"] = verdict[0]
    return data


def build_match_file(
    result: MatchResult,
    image_paths: tuple[str | None, str | None],
    threshold: float,
    geometry: Any | None = None,
    **provenance_details: Any,
) -> MatchFile:
    """The matches kept at `threshold` (with inlier flags and residuals when a geometric model exists).
    `provenance_details`: orientations, image_hashes, options, verdict (see `provenance`)."""
    keep = result.keep(threshold)
    inliers = residuals = None
    if geometry is not None and getattr(geometry, "ok", False) and len(geometry.inliers) == int(keep.sum()):
        inliers, residuals = geometry.inliers, geometry.residuals.astype(np.float32)
    from core.analysis.ambiguity import ambiguity_scores

    kept = result.subset(keep)
    record = provenance(result, image_paths, threshold, geometry, **provenance_details)
    record["matches_in_file"] = int(keep.sum())  # lets a reader tell a file cut short at a row boundary
    ambiguity = ambiguity_scores(kept) if kept.coarse is not None else None
    return MatchFile(kept.kpts0, kept.kpts1, kept.scores, record, inliers, residuals, ambiguity)


def _f(value: float) -> str:
    return repr(float(value))  # shortest repr that reads back to the same float32


def _csv_text(match_file: MatchFile) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = list(CSV_COLUMNS)
    if match_file.inliers is not None:
        header += ["inlier", "residual_px"]
    if match_file.ambiguity is not None:
        header.append("ambiguity")
    writer.writerow(header)
    for i in range(len(match_file.scores)):
        row = [
            str(i),
            *(_f(v) for v in match_file.kpts0[i]),
            *(_f(v) for v in match_file.kpts1[i]),
            _f(match_file.scores[i]),
        ]
        if match_file.inliers is not None and match_file.residuals is not None:
            row += [str(int(match_file.inliers[i])), _f(match_file.residuals[i])]
        if match_file.ambiguity is not None:
            row.append(_f(match_file.ambiguity[i]))
        writer.writerow(row)
    return out.getvalue()


def _json_text(match_file: MatchFile) -> str:
    data: dict[str, Any] = {
        "provenance": match_file.provenance,
        "kpts0": match_file.kpts0.tolist(),
        "kpts1": match_file.kpts1.tolist(),
        "scores": match_file.scores.tolist(),
    }
    if match_file.inliers is not None and match_file.residuals is not None:
        data["inliers"] = match_file.inliers.astype(bool).tolist()
        data["residuals_px"] = match_file.residuals.tolist()
    if match_file.ambiguity is not None:
        data["ambiguity"] = match_file.ambiguity.tolist()
    return json.dumps(data)


def csv_provenance_path(path: str | Path) -> Path:
    """The JSON file that holds a CSV export's provenance."""
    path = Path(path)
    return path.with_name(path.name + CSV_PROVENANCE_SUFFIX)


def write_matches(path: str | Path, match_file: MatchFile) -> Path:
    """Write by extension (.csv, .json, .npz). Raises ExportError; an existing file is left intact on failure."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"unknown export format '{suffix or path.name}' (use {', '.join(FORMATS)})")
    try:
        if suffix == ".npz":
            arrays: dict[str, Any] = {
                "kpts0": match_file.kpts0.astype(np.float32),
                "kpts1": match_file.kpts1.astype(np.float32),
                "scores": match_file.scores.astype(np.float32),
                "provenance": np.array(json.dumps(match_file.provenance)),
            }
            if match_file.inliers is not None and match_file.residuals is not None:
                arrays["inliers"] = match_file.inliers.astype(bool)
                arrays["residuals_px"] = match_file.residuals.astype(np.float32)
            if match_file.ambiguity is not None:
                arrays["ambiguity"] = match_file.ambiguity.astype(np.float32)
            write_atomically(path, lambda tmp: _save_npz(tmp, arrays))
        elif suffix == ".csv":
            record = json.dumps(match_file.provenance, indent=1, sort_keys=True)
            write_atomically(csv_provenance_path(path), lambda tmp: tmp.write_text(record))
            table = _csv_text(match_file)
            write_atomically(path, lambda tmp: tmp.write_text(table))
        else:
            text = _json_text(match_file)
            write_atomically(path, lambda tmp: tmp.write_text(text))
    except OSError as exc:
        raise ExportError(f"cannot write {path.name}: {exc.strerror or exc}") from exc
    return path


def _save_npz(tmp: Path, arrays: dict[str, Any]) -> None:
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_matches(path: str | Path) -> MatchFile:
    """Read any export back (as the GUI does to open one). Raises ExportError."""
    path = Path(path)
    try:
        suffix = path.suffix.lower()
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                prov = json.loads(str(data["provenance"])) if "provenance" in data else {}
                return _checked(
                    data["kpts0"],
                    data["kpts1"],
                    data["scores"],
                    prov,
                    data["inliers"] if "inliers" in data else None,
                    data["residuals_px"] if "residuals_px" in data else None,
                    data["ambiguity"] if "ambiguity" in data else None,
                )
        if suffix == ".json":
            data = json.loads(path.read_text())
            # JSON has no NaN: other writers put null, read as NaN (a match the runs leave out, with a note)
            return _checked(
                np.asarray(data["kpts0"], np.float32),
                np.asarray(data["kpts1"], np.float32),
                np.asarray(data["scores"], np.float32),
                data.get("provenance", {}),
                np.asarray(data["inliers"]) if "inliers" in data else None,
                np.asarray(data["residuals_px"], np.float32) if "residuals_px" in data else None,
                np.asarray(data["ambiguity"], np.float32) if "ambiguity" in data else None,
            )
        if suffix == ".csv":
            lines = path.read_text().splitlines()
            prov = {}
            if lines and lines[0].startswith("# match-inspector "):  # version 0.1.0 kept provenance in line 1
                prov = json.loads(lines[0][len("# match-inspector ") :])
                lines = lines[1:]
            if csv_provenance_path(path).is_file():
                prov = json.loads(csv_provenance_path(path).read_text())
            reader = csv.DictReader(lines)
            if not set(CSV_COLUMNS) <= set(reader.fieldnames or ()):
                raise ValueError(f"the header does not name the columns {', '.join(CSV_COLUMNS)}")
            rows = list(reader)
            table = {k: np.array([float(r[k]) for r in rows], np.float32) for k in ("x0", "y0", "x1", "y1", "score")}
            inliers = residuals = None
            if rows and "inlier" in rows[0]:
                inliers = np.array([r["inlier"] == "1" for r in rows], bool)
                residuals = np.array([float(r["residual_px"]) for r in rows], np.float32)
            ambiguity = (
                np.array([float(r["ambiguity"]) for r in rows], np.float32) if rows and "ambiguity" in rows[0] else None
            )
            return _checked(
                np.stack([table["x0"], table["y0"]], 1),
                np.stack([table["x1"], table["y1"]], 1),
                table["score"],
                prov,
                inliers,
                residuals,
                ambiguity,
            )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ExportError(f"cannot read {path.name}: it is not a complete match file ({_reason(exc)})") from exc
    raise ExportError(f"unknown match file format '{path.suffix}'")


def _checked(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    scores: np.ndarray,
    prov: Any,
    inliers: np.ndarray | None,
    residuals: np.ndarray | None,
    ambiguity: np.ndarray | None = None,
) -> MatchFile:
    """A MatchFile of (N, 2) float32 points, N float32 scores and one value per match in each other column, whose
    provenance sizes are [height, width] (a hand-edited or damaged file may hold anything)."""
    if not isinstance(prov, dict):
        raise ValueError("its provenance is not a JSON object")
    scores = values(scores, "scores")
    n = len(scores)
    kpts0, kpts1 = points(kpts0, "kpts0"), points(kpts1, "kpts1")
    if len(kpts0) != n or len(kpts1) != n:
        raise ValueError("the keypoint and score arrays do not have the same length")
    inliers = None if inliers is None else flags(inliers, "the inlier column", n)
    residuals = None if residuals is None else values(residuals, "the residual column", n)
    ambiguity = None if ambiguity is None else values(ambiguity, "the ambiguity column", n)
    if prov.get("matches_in_file", n) != n:
        raise ValueError(f"it holds {n} of the {prov['matches_in_file']} matches it was written with")
    for key in ("image0_size_hw", "image1_size_hw", "image0_size", "image1_size"):
        size = prov.get(key)
        if size is None or size == [0, 0]:  # not known (see MatchFile.image_sizes)
            continue
        if not (isinstance(size, list) and len(size) == 2):
            raise ValueError(f"{key} is {size!r}, not [height, width]")
        size_hw(size[0], size[1], key)
    return MatchFile(kpts0, kpts1, scores, prov, inliers, residuals, ambiguity)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
