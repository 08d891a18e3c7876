"""Sessions and reopened match files: the model's state to a file and back, without running the model."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog

from core.analysis.geometry import GeometryOptions, from_matrix
from core.formats.match_files import ExportError, read_matches
from core.formats.session import (
    SESSION_SUFFIX,
    SavedRunA,
    Session,
    SessionError,
    file_sha256,
    load_session,
    save_session,
)
from core.types import MatchResult, RunInfo

from ..inspection import GeometryFit, InspectionModel, RunA, ViewRange
from ..settings import typed_fields, value, view_layout
from .exports import ask_save_path, default_stem
from .feedback import Feedback
from .files import FileActions


def stored_range(values: Any) -> ViewRange | None:
    """A saved [x0, x1, y0, y1], or None when it is missing or corrupt."""
    try:
        x0, x1, y0, y1 = (float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return ViewRange(x0, x1, y0, y1) if x1 > x0 and y1 > y0 else None


class SessionIO(QObject):
    def __init__(self, model: InspectionModel, files: FileActions, settings: QSettings, feedback: Feedback) -> None:
        super().__init__()
        self.model = model
        self.files = files
        self.settings = settings
        self.feedback = feedback

    # --- saving -------------------------------------------------------------------------------------------
    def save_dialog(self) -> None:
        if self.model.result is None:
            self.feedback.error("Nothing to save yet: match a pair first.")
            return
        path = ask_save_path(
            self.settings,
            self.feedback,
            "Save session",
            f"Match Inspector session (*{SESSION_SUFFIX})",
            default_stem(self.model) + SESSION_SUFFIX,
        )
        if path:
            self.save(path)

    def save(self, path: str) -> str | None:
        model = self.model
        result = model.result
        path0, path1 = model.paths()
        if result is None or path0 is None or path1 is None:
            return None
        geometry: dict[str, Any] = asdict(model.geometry_options)
        fit = model.current_fit()
        if fit is not None and fit.geometry.ok and fit.geometry.matrix is not None:
            geometry["matrix"] = fit.geometry.matrix.tolist()
            geometry["fit_threshold"] = fit.threshold
            geometry["fitted_on"] = fit.fitted_on
        view = asdict(model.display)
        view["layout"] = model.view.layout
        view["a_follows_b"] = model.a_follows_b
        if model.view.range is not None:
            view["range"] = model.view.range.as_list()
        if model.region is not None:
            view["region"] = asdict(model.region)
        run_a = model.run_a
        session = Session(
            (path0, path1),
            (file_sha256(path0), file_sha256(path1)),
            result,
            model.threshold,
            model.selected,
            geometry,
            view,
            SavedRunA(run_a.label, run_a.result, run_a.threshold) if run_a is not None else None,
        )
        try:
            written = save_session(path, session)
        except SessionError as exc:
            self.feedback.write_failed(str(exc))
            return None
        self.feedback.status(f"Session saved to {written}", 8000)
        return str(written)

    # --- opening ------------------------------------------------------------------------------------------
    def _ask_open(self, title: str, filters: str) -> str:
        folder = value(self.settings, "paths/export_folder", "", str)
        return QFileDialog.getOpenFileName(self.feedback.dialog_parent, title, folder, filters)[0]

    def open_dialog(self) -> None:
        path = self._ask_open("Open session", f"Match Inspector session (*{SESSION_SUFFIX})")
        if path:
            self.open(path)

    def open(self, path: str) -> bool:
        """Restore images, matches, threshold, selection, geometry, run A and view; the model does not run."""
        try:
            session = load_session(path)
        except SessionError as exc:
            self.feedback.error(str(exc))
            return False
        self._show(session.image_paths, session.result, lambda: self._restore(session, path))
        return True

    def _restore(self, session: Session, path: str) -> None:
        model = self.model
        view = session.view
        model.set_display(**typed_fields(view, model.display))
        model.view.layout = view_layout(view, model.view.layout)
        geometry = session.geometry
        defaults = GeometryOptions()  # what the session leaves out (or stores corrupt) keeps the dataclass default
        options = replace(defaults, **typed_fields(geometry, defaults))
        model.set_geometry_options(options)
        model.set_threshold(session.threshold)
        if session.run_a is not None:
            a = session.run_a
            model.set_run_a(RunA(a.label, a.result, a.threshold, -1, kept=True))
        model.set_a_follows_b(bool(view.get("a_follows_b", False)))
        result = session.result
        if "matrix" in geometry and model.result is not None:
            restored = from_matrix(
                options.model, np.array(geometry["matrix"]), result.kpts0, result.kpts1, options.threshold_px
            )
            fit_threshold = float(geometry.get("fit_threshold", session.threshold))
            model.set_geometry_fit(
                GeometryFit(model.result_id, fit_threshold, int(geometry.get("fitted_on", 0)), options, restored)
            )
        model.select(session.selected)
        view_range = stored_range(view.get("range"))
        if view_range is not None:
            model.view.range = view_range  # the view follows
        changed = session.changed_images()
        if changed:
            self.feedback.error(
                "Changed since the session was saved: "
                + ", ".join(Path(p).name for p in changed)
                + ". The matches may no longer fit the images."
            )
        self.feedback.status(f"Session {Path(path).name} opened (the model was not run).", 8000)

    def open_matches_dialog(self) -> None:
        path = self._ask_open("Open matches file", "Matches (*.npz *.json *.csv)")
        if path:
            self.open_matches_file(path)

    def open_matches_file(self, path: str) -> bool:
        """Show an exported NPZ/JSON/CSV on the images named in its provenance."""
        try:
            data = read_matches(path)
        except ExportError as exc:
            self.feedback.error(str(exc))
            return False
        prov = data.provenance
        paths = (prov.get("image0"), prov.get("image1"))
        if not all(paths):
            self.feedback.error(f"{Path(path).name} does not name its images; open the pair first.")
            return False
        info = RunInfo.from_dict(prov, fallback_source=Path(path).name)
        info = replace(info, notes=(*info.notes, f"opened from {Path(path).name}"))
        result = MatchResult(data.kpts0, data.kpts1, data.scores, data.image_sizes(), info)
        threshold = float(prov.get("threshold", self.model.threshold))
        self._show(paths, result, lambda: self.model.set_threshold(threshold))  # type: ignore[arg-type]
        return True

    def _show(self, paths: tuple[str, str], result: MatchResult, then: Any) -> None:
        def shown() -> None:
            model = self.model
            loaded = tuple(image.size for image in model.images if image is not None)
            expected = tuple(tuple(s) for s in result.image_sizes)
            if all(s != (0, 0) for s in expected) and loaded != expected:
                self.feedback.error(
                    f"The images have other sizes than the matches were made for ({loaded} vs {expected})."
                )
            model.set_result(result, model.pair_version)
            then()

        self.files.load_pair(paths[0], paths[1], then=shown)
