"""Match files: CSV, JSON and NPZ with the same content and provenance, written atomically, read back exactly."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .io import atomic_write, write_atomically
from .types import MatchResult

FORMATS = (".csv", ".json", ".npz")


class ExportError(ValueError):
    """An export that could not be written or read; the message is for the user. Nothing was overwritten."""


@dataclass(frozen=True, eq=False)
class MatchFile:
    kpts0: np.ndarray
    kpts1: np.ndarray
    scores: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    inliers: np.ndarray | None = None
    residuals: np.ndarray | None = None
    # Second-best separated peak / best of each match's coarse confidence (core.ambiguity); None without features.
    ambiguity: np.ndarray | None = None


def provenance(
    result: MatchResult,
    image_paths: tuple[str | None, str | None],
    threshold: float,
    geometry: Any | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "image0": image_paths[0],
        "image1": image_paths[1],
        "image0_size": list(result.image_sizes[0]),  # height, width
        "image1_size": list(result.image_sizes[1]),
        **result.info.to_dict(),  # matcher, weights, device, precision, inference sizes, timings (seconds)
        "threshold": threshold,
        "matches_total": len(result),
        "coordinates": "float pixels (x, y) in the original images, pixel centres at integers",
    }
    if geometry is not None and getattr(geometry, "ok", False):
        data["geometry"] = {
            "model": geometry.model,
            "matrix": geometry.matrix.tolist(),
            "threshold_px": geometry.threshold_px,
            "inliers": geometry.inlier_count,
        }
    return data


def build_match_file(
    result: MatchResult, image_paths: tuple[str | None, str | None], threshold: float, geometry: Any | None = None
) -> MatchFile:
    """The matches kept at `threshold` (with inlier flags and residuals when a geometric model exists)."""
    keep = result.keep(threshold)
    inliers = residuals = None
    if geometry is not None and getattr(geometry, "ok", False) and len(geometry.inliers) == int(keep.sum()):
        inliers, residuals = geometry.inliers, geometry.residuals.astype(np.float32)
    from .ambiguity import ambiguity_scores

    kept = result.subset(keep)
    return MatchFile(
        kept.kpts0,
        kept.kpts1,
        kept.scores,
        provenance(result, image_paths, threshold, geometry),
        inliers,
        residuals,
        ambiguity_scores(kept) if kept.coarse is not None else None,
    )


def _f(value: float) -> str:
    return repr(float(value))  # shortest repr that reads back to the same float32


def _csv_text(match_file: MatchFile) -> str:
    out = io.StringIO()
    out.write("# match-inspector " + json.dumps(match_file.provenance, sort_keys=True) + "\n")
    writer = csv.writer(out, lineterminator="\n")
    header = ["index", "x0", "y0", "x1", "y1", "score"]
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
        else:
            text = _csv_text(match_file) if suffix == ".csv" else _json_text(match_file)
            with atomic_write(path, "w") as handle:
                handle.write(text)
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
                return MatchFile(
                    data["kpts0"].reshape(-1, 2),
                    data["kpts1"].reshape(-1, 2),
                    data["scores"],
                    prov,
                    data["inliers"] if "inliers" in data else None,
                    data["residuals_px"] if "residuals_px" in data else None,
                    data["ambiguity"] if "ambiguity" in data else None,
                )
        if suffix == ".json":
            data = json.loads(path.read_text())
            return MatchFile(
                np.asarray(data["kpts0"], np.float32).reshape(-1, 2),
                np.asarray(data["kpts1"], np.float32).reshape(-1, 2),
                np.asarray(data["scores"], np.float32),
                data.get("provenance", {}),
                np.asarray(data["inliers"], bool) if "inliers" in data else None,
                np.asarray(data["residuals_px"], np.float32) if "residuals_px" in data else None,
                np.asarray(data["ambiguity"], np.float32) if "ambiguity" in data else None,
            )
        if suffix == ".csv":
            lines = path.read_text().splitlines()
            prov = {}
            if lines and lines[0].startswith("# match-inspector "):
                prov = json.loads(lines[0][len("# match-inspector ") :])
                lines = lines[1:]
            rows = list(csv.DictReader(lines))
            table = {k: np.array([float(r[k]) for r in rows], np.float32) for k in ("x0", "y0", "x1", "y1", "score")}
            inliers = residuals = None
            if rows and "inlier" in rows[0]:
                inliers = np.array([r["inlier"] == "1" for r in rows], bool)
                residuals = np.array([float(r["residual_px"]) for r in rows], np.float32)
            ambiguity = (
                np.array([float(r["ambiguity"]) for r in rows], np.float32) if rows and "ambiguity" in rows[0] else None
            )
            return MatchFile(
                np.stack([table["x0"], table["y0"]], 1).reshape(-1, 2),
                np.stack([table["x1"], table["y1"]], 1).reshape(-1, 2),
                table["score"],
                prov,
                inliers,
                residuals,
                ambiguity,
            )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"cannot read {path.name}: {exc}") from exc
    raise ExportError(f"unknown match file format '{path.suffix}'")
