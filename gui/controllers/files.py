"""Opening images: dialogs, drops, recent pairs, swap, EXIF. Decoding runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog

from core.formats.images import LoadedImage, load_image

from ..inspection import InspectionModel
from ..jobs import LatestJobRunner
from ..settings import add_recent_pair, recent_pairs, value
from .feedback import Feedback

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp *.gif *.ppm *.pgm);;All files (*)"

Loaded = tuple[LoadedImage | None, LoadedImage | None]


def _decode(paths: tuple[str | None, str | None], apply_exif: bool) -> Loaded:
    return tuple(load_image(p, apply_exif=apply_exif) if p is not None else None for p in paths)  # type: ignore[return-value]


class FileActions(QObject):
    recentChanged = Signal()

    def __init__(self, model: InspectionModel, settings: QSettings, feedback: Feedback) -> None:
        super().__init__()
        self.model = model
        self.settings = settings
        self.feedback = feedback
        self.decoder = LatestJobRunner("decode")
        self.decoder.finished.connect(self._decoded)
        self.decoder.failed.connect(self._decode_failed)
        self._then: dict[int, Callable[[], None] | None] = {}
        self._recent: tuple[str, str] | None = None

    @property
    def busy(self) -> bool:
        return bool(self._then)

    # --- dialogs ------------------------------------------------------------------------------------------
    def open_pair_dialog(self, then: Callable[[], None] | None = None) -> None:
        folder = value(self.settings, "paths/last_folder", "", str)
        paths, _ = QFileDialog.getOpenFileNames(
            self.feedback.dialog_parent, "Open an image pair (choose two)", folder, IMAGE_FILTER
        )
        if len(paths) == 2:
            self.load_pair(paths[0], paths[1], then)
        elif paths:
            self.feedback.error("Choose exactly two images for a pair (Ctrl- or Shift-click).")

    def open_image_dialog(self, side: int, then: Callable[[], None] | None = None) -> None:
        folder = value(self.settings, "paths/last_folder", "", str)
        path, _ = QFileDialog.getOpenFileName(self.feedback.dialog_parent, f"Open image {side}", folder, IMAGE_FILTER)
        if path:
            self.load_image_into(side, path, then)

    # --- loading ------------------------------------------------------------------------------------------
    def load_pair(self, path0: str, path1: str, then: Callable[[], None] | None = None) -> None:
        """Decode both images in the background; the pair is only replaced when both load. `then` runs after."""
        self._recent = (path0, path1)
        self._submit((path0, path1), then)

    def load_image_into(self, side: int, path: str, then: Callable[[], None] | None = None) -> None:
        paths = list(self.model.paths())
        paths[side] = path
        self._recent = None
        # The other image is already decoded: reuse it rather than reading it again.
        keep = self.model.images[1 - side]
        self._submit(tuple(paths), then, keep=(1 - side, keep))  # type: ignore[arg-type]

    def _submit(
        self,
        paths: tuple[str | None, str | None],
        then: Callable[[], None] | None,
        keep: tuple[int, LoadedImage | None] | None = None,
    ) -> None:
        wanted = list(paths)
        if keep is not None:
            wanted[keep[0]] = None
        apply_exif = self.model.image_options.apply_exif  # read at submission: the model owns the flag
        job = self.decoder.submit(self._decode_keeping, tuple(wanted), apply_exif, keep)
        self._then = {job: then}

    @staticmethod
    def _decode_keeping(
        paths: tuple[str | None, str | None], apply_exif: bool, keep: tuple[int, LoadedImage | None] | None
    ) -> Loaded:
        images = list(_decode(paths, apply_exif))
        if keep is not None:
            images[keep[0]] = keep[1]
        return images[0], images[1]

    def _decoded(self, job: int, images: Loaded) -> None:
        then = self._then.pop(job, None)
        if self.decoder.superseded(job):
            return
        for image in images:
            if image is not None and image.note:
                self.feedback.status(f"{image.path.name if image.path else 'image'}: {image.note}", 8000)
        loaded = [image for image in images if image is not None and image.path is not None]
        if loaded:
            self.settings.setValue("paths/last_folder", str(loaded[-1].path.parent))  # type: ignore[union-attr]
        self.model.set_images(images[0], images[1])
        if self._recent is not None:
            add_recent_pair(self.settings, *self._recent)
            self.recentChanged.emit()
        if then is not None:
            then()

    def _decode_failed(self, job: int, message: str) -> None:
        self._then.pop(job, None)
        self.feedback.error(message)

    def drop(self, paths: list[str], side: int | None, then: Callable[[], None] | None = None) -> None:
        """Two files fill both slots; one file goes to the image it was dropped on (else the empty slot)."""
        if len(paths) >= 2:
            if len(paths) > 2:
                self.feedback.status("More than two files dropped: using the first two.", 6000)
            self.load_pair(paths[0], paths[1], then)
        elif len(paths) == 1:
            images = self.model.images
            if images[0] is None:
                side = 0
            elif images[1] is None or side is None:
                side = 1 if images[1] is None else 0
            self.load_image_into(side, paths[0], then)

    def swap(self) -> bool:
        if self.model.images[0] is None and self.model.images[1] is None:
            return False
        self.model.swap()
        return True

    def set_apply_exif(self, apply: bool, then: Callable[[], None] | None = None) -> None:
        """The user's choice: read the pair on screen again in the new frame (`then` runs after)."""
        if apply == self.model.image_options.apply_exif:
            return
        self.model.image_options.apply_exif = apply
        path0, path1 = self.model.paths()
        if path0 is not None and path1 is not None:
            self.load_pair(path0, path1, then)

    def recent(self) -> list[tuple[str, str]]:
        return recent_pairs(self.settings)

    def shutdown(self) -> None:
        self.decoder.shutdown()
