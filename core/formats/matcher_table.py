"""The matcher comparison table (core.analysis.matcher_table) as a CSV or JSON file, written atomically.

CSV: one header line with the columns, one line per matcher, empty cells for what is not known. JSON: the pair, the
inputs the figures were computed with, and the rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.analysis.matcher_table import COLUMNS, MatcherRow, TableInputs
from core.errors import ExportError
from core.formats.files import write_atomically

TABLE_FORMATS = (".csv", ".json")


def _csv_text(rows: Sequence[MatcherRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.values().items()})
    return out.getvalue()


def _json_text(rows: Sequence[MatcherRow], inputs: TableInputs, images: tuple[str, str]) -> str:
    pose = inputs.pose
    document: dict[str, Any] = {
        "images": list(images),
        "threshold": inputs.threshold,
        "geometry": asdict(inputs.geometry),
        "pose_reference": pose.source if pose is not None else None,
        "rows": [row.values() for row in rows],
    }
    return json.dumps(document, indent=2) + "\n"


def write_table(path: str | Path, rows: Sequence[MatcherRow], inputs: TableInputs, images: tuple[str, str]) -> None:
    """CSV or JSON by the file's extension; raises ExportError (nothing overwritten) when it cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_FORMATS:
        raise ExportError(f"the table is written as {' or '.join(TABLE_FORMATS)}, not {path.name}")
    text = _csv_text(rows) if suffix == ".csv" else _json_text(rows, inputs, images)
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise ExportError(f"cannot write {path.name}: {exc.strerror or exc}") from exc
