"""Exports: matches as CSV / JSON / NPZ, and the view as a full-resolution PNG composed off the GUI thread.

The PNG uses the model's line colours and line subsample, so it shows what the screen shows, plus a caption and a
legend (optional), the selected match and its epipolar line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog

from core.formats.drawing import Layout, caption, draw_matches
from core.formats.files import write_atomically
from core.formats.match_files import ExportError, build_match_file, write_matches
from core.matchers.output_settings import OutputSettings
from core.types import MatchOptions

from ..inspection import InspectionModel
from ..jobs import LatestJobRunner
from ..settings import value
from .feedback import Feedback


def default_stem(model: InspectionModel) -> str:
    names = [image.path.stem if image is not None and image.path else "image" for image in model.images]
    return f"{names[0]}__{names[1]}"


def ask_save_path(settings: QSettings, feedback: Feedback, title: str, filters: str, default_name: str) -> str:
    folder = value(settings, "paths/export_folder", "", str)
    path, _ = QFileDialog.getSaveFileName(
        feedback.dialog_parent, title, str(Path(folder) / default_name) if folder else default_name, filters
    )
    if path:
        settings.setValue("paths/export_folder", str(Path(path).parent))
    return path


def _compose_and_write(path: str, picture_args: dict[str, Any]) -> tuple[str, tuple[int, int]]:
    picture = draw_matches(**picture_args)
    try:
        write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"))
    except OSError as exc:
        raise ExportError(f"cannot write {Path(path).name}: {exc.strerror or exc}") from exc
    return path, picture.size


def export_record(model: InspectionModel) -> dict[str, Any]:
    """The options behind the exported matches, recorded as the command line records its own (`OutputSettings`):
    the matcher's options when this window ran it (a stored or opened result has none), threshold, geometry, EXIF."""
    geometry = model.geometry_options if model.geometry_options.model != "none" else None
    match = model.result_options
    settings = OutputSettings(
        match or MatchOptions(), model.threshold, geometry, apply_exif=model.image_options.apply_exif
    )
    record = settings.record()
    if match is None:
        return {"threshold": record["threshold"], "geometry": record["geometry"], "exif": record["exif"]}
    return record


class ExportActions(QObject):
    def __init__(self, model: InspectionModel, settings: QSettings, feedback: Feedback) -> None:
        super().__init__()
        self.model = model
        self.settings = settings
        self.feedback = feedback
        self.pictures = LatestJobRunner("picture")
        self.pictures.finished.connect(self._picture_written)
        self.pictures.failed.connect(lambda _, message: self._failed(message))
        self._writing: int | None = None

    @property
    def busy(self) -> bool:
        return self._writing is not None

    def export_matches_dialog(self) -> None:
        if self.model.result is None:
            self.feedback.error("Nothing to export yet: match a pair first.")
            return
        path = ask_save_path(
            self.settings,
            self.feedback,
            "Export matches",
            "NumPy (*.npz);;JSON (*.json);;CSV (*.csv)",
            default_stem(self.model) + ".npz",
        )
        if path:
            self.export_matches(path)

    def export_matches(self, path: str) -> bool:
        """Every match passing the threshold (the box selection only filters the view), with geometry flags and the
        verdict on them; a fit judged "no model" writes neither flags nor matrix."""
        model = self.model
        result = model.result
        if result is None:
            return False
        exported = result.keep(model.threshold)
        fit = model.current_fit()
        assessment = model.assessment(judged_on=exported)
        geometry = None
        if fit is not None and fit.geometry.ok and assessment is not None and assessment.verdict != "no model":
            geometry = fit.geometry.subset(exported)
        try:
            orientations = tuple(image.orientation if image is not None else 1 for image in model.images)
            match_file = build_match_file(
                result,
                model.paths(),
                model.threshold,
                geometry,
                orientations=orientations,
                options=export_record(model),
                verdict=(assessment.verdict, assessment.label) if assessment is not None else None,
            )
            write_matches(path, match_file)
        except ExportError as exc:
            self._failed(str(exc))
            return False
        self.feedback.status(f"Exported {model.prefix_count:,} matches to {path}", 8000)
        return True

    def export_png_dialog(self) -> None:
        if not self.model.has_pair:
            self.feedback.error("Nothing to export yet: load a pair first.")
            return
        path = ask_save_path(
            self.settings, self.feedback, "Export view as PNG", "PNG (*.png)", default_stem(self.model) + ".png"
        )
        if path:
            self.export_png(path)

    def picture_args(self, layout: Layout) -> dict[str, Any] | None:
        """What draw_matches needs to draw the view as it is now (every array copied: the job runs elsewhere)."""
        model = self.model
        image0, image1 = model.images
        if image0 is None or image1 is None:
            return None
        result, colors = model.result, model.line_colors()
        display = model.display
        args: dict[str, Any] = {
            "rgb0": image0.pixels,
            "rgb1": image1.pixels,
            "layout": layout,
            "width": display.line_width,
            "opacity": display.opacity,
        }
        if result is None or colors is None:
            empty = np.zeros((0, 2), np.float32)
            return {**args, "kpts0": empty, "kpts1": empty, "scores": np.zeros(0, np.float32)}
        subsample = model.line_subsample()
        drawn = model.visible_mask().copy()
        if subsample is not None:
            drawn &= subsample.drawable
        if not display.show_lines or model.overlay_shown():
            drawn[:] = False
        args.update(kpts0=result.kpts0[drawn], kpts1=result.kpts1[drawn], scores=result.scores[drawn])
        args["colors"] = colors.rgb(drawn)
        if model.selected >= 0:
            args["selection"] = (result.kpts0[model.selected], result.kpts1[model.selected])
            args["epipolar"] = model.epipolar_segment(model.selected)
        if model.export_options.legend_in_png:
            names = tuple(image.path.name if image.path else f"image {i}" for i, image in enumerate((image0, image1)))
            assessment = model.assessment()
            args["caption"] = caption(
                names,  # type: ignore[arg-type]
                result.info.matcher,
                model.threshold,
                model.visible_count(),
                len(result),
                int(drawn.sum()),
                assessment.label if assessment is not None else None,
            )
            args["legend"] = colors.legend
        return args

    def export_png(self, path: str) -> int | None:
        """Start writing the picture, laid out as on screen (the status bar says when it is written); the job id."""
        if not path.lower().endswith(".png"):
            path += ".png"
        args = self.picture_args(self.model.layout())  # laid out as the screen shows it
        if args is None:
            return None
        self._writing = self.pictures.submit(_compose_and_write, path, args)
        self.feedback.status(f"Writing {Path(path).name}…", 0)
        return self._writing

    def _picture_written(self, job: int, written: tuple[str, tuple[int, int]]) -> None:
        self._writing = None
        path, (width, height) = written
        self.feedback.status(f"Saved {width}x{height} picture to {path}", 8000)

    def _failed(self, message: str) -> None:
        self._writing = None
        self.feedback.write_failed(message)

    def shutdown(self) -> None:
        self.pictures.shutdown()
