"""The left-hand controls: matcher and model options, threshold, display, geometry, overlay, A/B comparison."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.geometry import GeometryOptions
from core.types import DEFAULT_INTERNAL_THRESHOLD, MatchOptions

from ..settings import value
from ..state import InspectorState
from .legend import Legend

RESOLUTIONS = [
    ("long side 480", 480, None),
    ("long side 640", 640, None),
    ("long side 840", 840, None),
    ("long side 1024", 1024, None),
    ("long side 1280", 1280, None),
    ("fixed 640 x 480", None, (640, 480)),
    ("full size (memory-capped)", None, None),
]
SLIDER_STEPS = 1000


def _combo(*items: tuple[str, str]) -> QComboBox:
    """A combo box of (label, data) items."""
    combo = QComboBox()
    for label, data in items:
        combo.addItem(label, data)
    return combo


def _slider(minimum: int, maximum: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(minimum, maximum)
    slider.setValue(value)
    return slider


class ControlsPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    modelOptionsChanged = Signal()
    displayChanged = Signal()
    geometryOptionsChanged = Signal()
    overlayChanged = Signal()
    keepReferenceRequested = Signal()

    def __init__(self, state: InspectorState) -> None:
        super().__init__()
        self.state = state
        layout = QVBoxLayout(self)
        layout.addWidget(self._model_group())
        layout.addWidget(self._threshold_group())
        layout.addWidget(self._display_group())
        layout.addWidget(self._geometry_group())
        layout.addWidget(self._compare_group())
        layout.addStretch(1)
        state.thresholdChanged.connect(self._threshold_from_state)
        state.resultChanged.connect(self.update_counts)
        state.thresholdChanged.connect(self.update_counts)
        state.busyChanged.connect(self._busy_changed)
        state.pairChanged.connect(self._busy_changed)
        self._busy_changed()

    # --- groups -------------------------------------------------------------------------------------------
    def _model_group(self) -> QGroupBox:
        box = QGroupBox("Matcher")
        form = QFormLayout(box)
        self.matcher = _combo(("EfficientLoFTR", "eloftr"), ("SIFT baseline (no weights)", "sift"))
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("zju-community/efficientloftr (Hub)")
        self.weights.setToolTip("A Hugging Face Hub id, a model folder, or a checkpoint file (.safetensors, .ckpt)")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose a checkpoint file")
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights)
        weights_row.addWidget(browse)
        self.device = _combo(*((name, name) for name in ("auto", "cpu", "cuda", "mps")))
        self.precision = _combo(("fp32", "fp32"), ("bf16 (mixed)", "bf16"), ("fp16 (mixed)", "fp16"))
        self.resolution = _combo(*((label, label) for label, _, _ in RESOLUTIONS))
        self.resolution.setCurrentIndex(1)
        self.variant = _combo(("full (dual softmax)", "full"), ("opt (logit threshold)", "opt"))
        self.internal_threshold = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1.0, singleStep=0.01)
        self.internal_threshold.setValue(DEFAULT_INTERNAL_THRESHOLD)
        self.internal_threshold.setToolTip("The model's own coarse threshold: the lowest score the slider can reach")
        self.run_button = QPushButton("Match")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addRow("matcher", self.matcher)
        form.addRow("weights", weights_row)
        form.addRow("device", self.device)
        form.addRow("precision", self.precision)
        form.addRow("resolution", self.resolution)
        form.addRow("variant", self.variant)
        form.addRow("model floor", self.internal_threshold)
        form.addRow(buttons)
        for combo in (self.matcher, self.device, self.precision, self.resolution, self.variant):
            combo.currentIndexChanged.connect(self.modelOptionsChanged)
        self.weights.editingFinished.connect(self.modelOptionsChanged)
        self.internal_threshold.valueChanged.connect(self.modelOptionsChanged)
        self.matcher.currentIndexChanged.connect(self._matcher_changed)
        self._model_widgets = [
            self.weights,
            browse,
            self.device,
            self.precision,
            self.resolution,
            self.variant,
            self.internal_threshold,
        ]
        return box

    def _threshold_group(self) -> QGroupBox:
        box = QGroupBox("Threshold")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.slider = _slider(0, SLIDER_STEPS, 0)
        self.spin = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=1.0, singleStep=0.01)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.count_label = QLabel("no matches yet")
        layout.addLayout(row)
        layout.addWidget(self.count_label)
        self.slider.valueChanged.connect(lambda v: self.state.set_threshold(v / SLIDER_STEPS))
        self.spin.valueChanged.connect(self.state.set_threshold)
        self._threshold_from_state(self.state.threshold)
        return box

    def _display_group(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        self.layout_mode = _combo(("side by side", "side"), ("stacked", "stacked"))
        self.color_mode = _combo(
            ("confidence", "confidence"),
            ("inlier / outlier", "inlier"),
            ("residual", "residual"),
            ("A/B: shared / gained / lost", "compare"),
        )
        self.legend = Legend()
        self.line_width = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=6.0, singleStep=0.5, value=1.0)
        self.opacity = _slider(5, 100, 85)
        self.markers = QCheckBox("keypoint markers")
        self.heatmap = QCheckBox("match density heatmap")
        form.addRow("layout", self.layout_mode)
        form.addRow("colour by", self.color_mode)
        form.addRow(self.legend)
        form.addRow("line width", self.line_width)
        form.addRow("opacity", self.opacity)
        form.addRow(self.markers)
        form.addRow(self.heatmap)
        for signal in (
            self.layout_mode.currentIndexChanged,
            self.color_mode.currentIndexChanged,
            self.line_width.valueChanged,
            self.opacity.valueChanged,
            self.markers.toggled,
            self.heatmap.toggled,
        ):
            signal.connect(self.displayChanged)
        return box

    def _geometry_group(self) -> QGroupBox:
        box = QGroupBox("Geometry (MAGSAC++)")
        form = QFormLayout(box)
        self.geometry_model = _combo(("fundamental matrix (F)", "F"), ("homography (H)", "H"), ("none", "none"))
        self.geometry_threshold = QDoubleSpinBox(decimals=2, minimum=0.1, maximum=50.0, singleStep=0.5, value=3.0)
        self.geometry_threshold.setSuffix(" px")
        self.geometry_confidence = QDoubleSpinBox(
            decimals=4, minimum=0.5, maximum=0.99999, singleStep=0.001, value=0.999
        )
        self.geometry_iters = QSpinBox(minimum=10, maximum=1_000_000, singleStep=1000, value=10_000)
        self.geometry_label = QLabel("–")
        self.geometry_label.setWordWrap(True)
        self.overlay = QCheckBox("overlay image 1 on image 0 (H)")
        self.overlay_blend = _slider(0, 100, 50)
        self.overlay_checker = QCheckBox("checkerboard")
        form.addRow("model", self.geometry_model)
        form.addRow("inlier threshold", self.geometry_threshold)
        form.addRow("confidence", self.geometry_confidence)
        form.addRow("max iterations", self.geometry_iters)
        form.addRow(self.geometry_label)
        form.addRow(self.overlay)
        form.addRow("blend", self.overlay_blend)
        form.addRow(self.overlay_checker)
        for signal in (
            self.geometry_model.currentIndexChanged,
            self.geometry_threshold.valueChanged,
            self.geometry_confidence.valueChanged,
            self.geometry_iters.valueChanged,
        ):
            signal.connect(self.geometryOptionsChanged)
        for signal in (self.overlay.toggled, self.overlay_blend.valueChanged, self.overlay_checker.toggled):
            signal.connect(self.overlayChanged)
        return box

    def _compare_group(self) -> QGroupBox:
        box = QGroupBox("Compare runs (A/B)")
        layout = QVBoxLayout(box)
        self.compare_label = QLabel("Run twice on the same pair (or keep a run) to compare.")
        self.compare_label.setWordWrap(True)
        keep = QPushButton("Keep current run as A")
        keep.clicked.connect(self.keepReferenceRequested)
        layout.addWidget(self.compare_label)
        layout.addWidget(keep)
        self.state.comparisonChanged.connect(self.update_comparison)
        return box

    # --- reading options ----------------------------------------------------------------------------------
    def match_options(self) -> MatchOptions:
        _, long_side, size = RESOLUTIONS[self.resolution.currentIndex()]
        return MatchOptions(
            matcher=self.matcher.currentData(),
            weights=self.weights.text().strip() or None,
            device=self.device.currentData(),
            precision=self.precision.currentData(),
            long_side=long_side,
            size=size,
            variant=self.variant.currentData(),
            internal_threshold=float(self.internal_threshold.value()),
        )

    def geometry_options(self) -> GeometryOptions:
        return GeometryOptions(
            model=self.geometry_model.currentData(),
            threshold_px=float(self.geometry_threshold.value()),
            confidence=float(self.geometry_confidence.value()),
            max_iters=int(self.geometry_iters.value()),
        )

    # --- feedback -----------------------------------------------------------------------------------------
    def _threshold_from_state(self, threshold: float) -> None:
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
        self.slider.setValue(int(round(threshold * SLIDER_STEPS)))
        self.spin.setValue(threshold)
        for widget in (self.slider, self.spin):
            widget.blockSignals(False)

    def update_counts(self, *_: object) -> None:
        result = self.state.result
        if result is None:
            self.count_label.setText("no matches yet")
            return
        self.count_label.setText(f"{self.state.visible_count():,} of {len(result):,} matches")

    def update_geometry_label(self) -> None:
        geometry = self.state.geometry
        if self.state.result is None:
            text = "–"
        elif geometry is None:
            text = "fitting…" if self.geometry_model.currentData() != "none" else "no model"
        elif not geometry.ok:
            text = geometry.status
        else:
            text = (
                f"{geometry.model}: {geometry.inlier_count:,} inliers of {len(geometry.inliers):,} "
                f"({100 * geometry.inlier_ratio:.1f}%)"
            )
        self.geometry_label.setText(text)

    def update_comparison(self) -> None:
        comparison, reference = self.state.comparison, self.state.reference_run
        if comparison is None or reference is None:
            self.compare_label.setText("Run twice on the same pair (or keep a run) to compare.")
            return
        self.compare_label.setText(
            f"A = {reference.label} ({reference.result.info.matcher}), B = current\n"
            f"shared {comparison.shared:,} · gained {comparison.gained:,} · lost {comparison.lost:,}"
        )

    def _busy_changed(self, *_: object) -> None:
        self.run_button.setEnabled(self.state.has_pair)
        self.cancel_button.setEnabled(self.state.busy)

    def _matcher_changed(self) -> None:
        neural = self.matcher.currentData() == "eloftr"
        for widget in self._model_widgets:
            widget.setEnabled(neural)

    def _browse_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose EfficientLoFTR weights", "", "Checkpoints (*.safetensors *.ckpt *.pth *.pt *.bin)"
        )
        if path:
            self.weights.setText(path)
            self.modelOptionsChanged.emit()

    # --- persistence --------------------------------------------------------------------------------------
    def save(self, settings: QSettings) -> None:
        for key, combo in self._combos().items():
            settings.setValue(f"options/{key}", combo.currentIndex())
        settings.setValue("options/weights", self.weights.text())
        settings.setValue("options/internal_threshold", self.internal_threshold.value())
        settings.setValue("options/threshold", self.state.threshold)
        settings.setValue("options/geometry_threshold", self.geometry_threshold.value())
        settings.setValue("options/line_width", self.line_width.value())
        settings.setValue("options/opacity", self.opacity.value())

    def restore(self, settings: QSettings) -> None:
        for key, combo in self._combos().items():
            index = value(settings, f"options/{key}", combo.currentIndex(), int)
            if 0 <= index < combo.count():
                combo.setCurrentIndex(index)
        self.weights.setText(value(settings, "options/weights", "", str))
        self.internal_threshold.setValue(
            value(settings, "options/internal_threshold", DEFAULT_INTERNAL_THRESHOLD, float)
        )
        self.state.set_threshold(value(settings, "options/threshold", self.state.threshold, float))
        self.geometry_threshold.setValue(value(settings, "options/geometry_threshold", 3.0, float))
        self.line_width.setValue(value(settings, "options/line_width", 1.0, float))
        self.opacity.setValue(value(settings, "options/opacity", 85, int))

    def _combos(self) -> dict[str, QComboBox]:
        return {
            "matcher": self.matcher,
            "device": self.device,
            "precision": self.precision,
            "resolution": self.resolution,
            "variant": self.variant,
            "layout": self.layout_mode,
            "color_mode": self.color_mode,
            "geometry_model": self.geometry_model,
        }
