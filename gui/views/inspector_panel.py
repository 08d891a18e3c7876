"""Side panel for the selected match: index, score, sub-pixel coordinates, residual, zoomed patches of both points."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..inspection import InspectionModel

PATCH_RADIUS = 16  # original pixels around the point
PATCH_ZOOM = 5


def patch_pixmap(pixels: np.ndarray, x: float, y: float) -> QPixmap:
    """A zoomed crop around (x, y) with a cross-hair on the exact sub-pixel position."""
    h, w = pixels.shape[:2]
    cx, cy = int(round(x)), int(round(y))
    size = 2 * PATCH_RADIUS + 1
    crop = np.zeros((size, size, 3), np.uint8)
    x0, y0 = cx - PATCH_RADIUS, cy - PATCH_RADIUS
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = pixels[sy0:sy1, sx0:sx1]
    image = QImage(np.ascontiguousarray(crop).data, size, size, 3 * size, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(image).scaled(
        size * PATCH_ZOOM,
        size * PATCH_ZOOM,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor(0, 230, 255), 1.5))
    px = (x - x0 + 0.5) * PATCH_ZOOM
    py = (y - y0 + 0.5) * PATCH_ZOOM
    painter.drawLine(int(px - 10), int(py), int(px - 3), int(py))
    painter.drawLine(int(px + 3), int(py), int(px + 10), int(py))
    painter.drawLine(int(px), int(py - 10), int(px), int(py - 3))
    painter.drawLine(int(px), int(py + 3), int(px), int(py + 10))
    painter.end()
    return pixmap


class InspectorPanel(QWidget):
    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        self.title = QLabel("No match selected. Click a line, or use the table; arrow keys step, Esc clears.")
        self.title.setWordWrap(True)
        form = QFormLayout()
        names = ("index", "score", "image 0 (x, y)", "image 1 (x, y)", "residual", "found by", "ambiguity")
        self.fields = {name: QLabel("–") for name in names}
        for name, label in self.fields.items():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)  # a long value wraps: selecting a match never widens the dock
            form.addRow(name, label)
        self.patches = [QLabel(), QLabel()]
        patches = QHBoxLayout()
        for side, label in enumerate(self.patches):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"image {side}"))
            label.setFixedSize((2 * PATCH_RADIUS + 1) * PATCH_ZOOM, (2 * PATCH_RADIUS + 1) * PATCH_ZOOM)
            label.setStyleSheet("background: #222;")
            column.addWidget(label)
            patches.addLayout(column)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addLayout(patches)
        layout.addStretch(1)
        model.selection_changed.connect(self.show_match)
        model.geometry_changed.connect(lambda: self.show_match(self.model.selected))
        model.visible_changed.connect(lambda: self.show_match(self.model.selected))
        model.result_changed.connect(lambda: self.show_match(-1))
        model.ambiguity_changed.connect(self.show_ambiguity)
        model.comparison_changed.connect(self.show_found_by)

    def show_ambiguity(self) -> None:
        """How peaked the selected match's confidence over image 1 is (see Display > where else could it match)."""
        model = self.model
        ambiguity = model.ambiguity
        if model.selected < 0:
            text = "–"
        elif model.result is None or model.result.coarse is None:
            text = "– (no coarse features: EfficientLoFTR runs only)"
        elif ambiguity is None:
            text = "computing…" if model.display.ambiguity else "– (turn on 'where else could it match')"
        elif len(ambiguity.peaks) <= 1 or ambiguity.ambiguity <= 0:
            text = "unique: one peak"
        else:
            text = (
                f"{ambiguity.ambiguity:.2f}: {len(ambiguity.peaks)} peaks, best {ambiguity.peak_ratio:.1f}x the second"
            )
        self.fields["ambiguity"].setText(text)

    def show_found_by(self, *_: object) -> None:
        """With an A/B comparison: whether run A found the selected match too (shared) or only B did (gained)."""
        model, index = self.model, self.model.selected
        comparison, run_a, result = model.comparison(), model.run_a, model.result
        if index < 0 or result is None or index >= len(result) or run_a is None:
            self.fields["found by"].setText("–")
            return
        if comparison is None:
            self.fields["found by"].setText("comparing…")
            return
        b = f"B ({result.info.matcher})"
        a = f"A ({run_a.label})"
        shared = bool(comparison.shared_b[index])
        self.fields["found by"].setText(f"{a} and {b}: shared" if shared else f"only {b}: gained")

    def show_match(self, index: int) -> None:
        result = self.model.result
        if result is None or index < 0 or index >= len(result):
            self.title.setText("No match selected. Click a line, or use the table; arrow keys step, Esc clears.")
            for label in self.fields.values():
                label.setText("–")
            for label in self.patches:
                label.clear()
            return
        k0, k1 = result.kpts0[index], result.kpts1[index]
        self.title.setText(
            f"Match #{index}: {self.model.visible_position(index):,} of {self.model.visible_count():,} visible"
        )
        self.fields["index"].setText(str(index))
        self.fields["score"].setText(f"{result.scores[index]:.5f}")
        self.fields["image 0 (x, y)"].setText(f"{k0[0]:.3f}, {k0[1]:.3f}")
        self.fields["image 1 (x, y)"].setText(f"{k1[0]:.3f}, {k1[1]:.3f}")
        fit = self.model.model_fit()
        geometry = fit.geometry if fit is not None else None
        if geometry is not None:
            kind = "transfer error" if geometry.model == "H" else "Sampson distance"
            verdict = "inlier" if geometry.inliers[index] else "outlier"
            self.fields["residual"].setText(f"{geometry.residuals[index]:.3f} px {kind} ({verdict})")
        else:
            self.fields["residual"].setText("– (no geometric model)")
        self.show_found_by()
        self.show_ambiguity()
        for side, (label, point) in enumerate(zip(self.patches, (k0, k1))):
            image = self.model.images[side]
            if image is not None:
                label.setPixmap(patch_pixmap(image.pixels, float(point[0]), float(point[1])))
