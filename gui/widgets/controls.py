"""The left-hand controls. Each control is bound to one field of the inspection state in one place (binding.py): it
follows the field and writes it on edit; none keeps its own state, and a restored setting is just a change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.analysis.compare import Comparison
from core.analysis.geometry import GeometryOptions
from core.matchers.registry import matcher_specs
from core.types import DEFAULT_DISPLAY_THRESHOLD, DEFAULT_LONG_SIDE, MatchOptions

from ..inspection import InspectionModel
from .binding import Widget, bind, bind_field
from .inputs import combo, integer_box, number_box, slider
from .legend import Legend
from .weights_chooser import WeightsChooser

RESOLUTIONS: list[tuple[str, int | None, tuple[int, int] | None]] = [
    ("long side 480", 480, None),
    ("long side 640", DEFAULT_LONG_SIDE, None),
    ("long side 840", 840, None),
    ("long side 1024", 1024, None),
    ("long side 1280", 1280, None),
    ("fixed 640 x 480", None, (640, 480)),
    ("full size (memory-capped)", None, None),
]
SLIDER_STEPS = 1000
PENDING_STYLE = "border: 1px solid #e0a020;"


@contextmanager
def signals_blocked(*widgets: QWidget) -> Iterator[None]:
    for widget in widgets:
        widget.blockSignals(True)
    try:
        yield
    finally:
        for widget in widgets:
            widget.blockSignals(False)


def show_text(label: QLabel, text: str, style: str | None = None) -> None:
    """Set a label only when it changes: every set re-lays out the panel, and the slider moves 60 times a second."""
    if label.text() != text:
        label.setText(text)
    if style is not None and label.styleSheet() != style:
        label.setStyleSheet(style)


def describe_displacement(comparison: Comparison) -> str:
    """How far the shared matches moved between the runs (what an export or a precision changed), by decade."""
    moved = comparison.shared_displacements
    if len(moved) == 0:
        return ""
    counts, edges = comparison.displacement_histogram()
    bins = " · ".join(f"{count:,} by <{edge:g} px" for edge, count in zip(edges[1:], counts) if count)
    return f"\nshared keypoints moved: max {comparison.max_displacement:.2g} px\n({bins})"


def matcher_combo() -> QComboBox:
    """Every matcher the registry knows; one that cannot run here says why in its tooltip (EfficientLoFTR stays
    choosable without cached weights: a weights file can be chosen next to it)."""
    box = combo(*((spec.label, spec.name) for spec in matcher_specs()))
    for index, spec in enumerate(matcher_specs()):
        box.setItemData(index, spec.reason or spec.package, Qt.ItemDataRole.ToolTipRole)
    return box


def resolution_index(options: MatchOptions) -> int:
    for index, (_, long_side, size) in enumerate(RESOLUTIONS):
        if options.size is not None:
            if size == tuple(options.size):
                return index
        elif size is None and long_side == options.long_side:
            return index
    return 1


class ControlsPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    matchersRequested = Signal()  # show the Compare matchers panel

    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        layout = QVBoxLayout(self)
        layout.addWidget(self._matcher_group())
        layout.addWidget(self._threshold_group())
        layout.addWidget(self._display_group())
        layout.addWidget(self._geometry_group())
        layout.addWidget(self._compare_group())
        layout.addStretch(1)
        model.match_options_changed.connect(self.show_pending_options)
        model.busy_changed.connect(self._busy_changed)
        model.pair_changed.connect(self._busy_changed)
        model.result_changed.connect(self._score_range_changed)
        model.visible_changed.connect(self.update_counts)
        model.result_changed.connect(self.update_counts)
        display = model.display.events
        for event in (display.line_budget, display.show_lines, display.overlay):
            event.connect(self.update_counts)
        display.color_mode.connect(self._update_legend)
        model.model_points_changed.connect(self._update_legend)
        model.geometry_changed.connect(self.update_geometry_label)
        model.geometry_changed.connect(self.update_counts)  # the overlay comes and goes with the fit
        model.visible_changed.connect(self.update_geometry_label)
        model.region_changed.connect(self.update_region_label)
        model.run_a_changed.connect(self.update_comparison)
        model.comparison_changed.connect(self.update_comparison)
        model.visible_changed.connect(self.update_comparison)
        self.show_pending_options()
        self._busy_changed()

    # --- groups -------------------------------------------------------------------------------------------
    def _matcher_group(self) -> QGroupBox:
        box = QGroupBox("Matcher")
        form = QFormLayout(box)
        self.matcher = matcher_combo()
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("zju-community/efficientloftr (Hub)")
        self.weights.setToolTip("A Hugging Face Hub id, a model folder, or a checkpoint file (.safetensors, .ckpt)")
        self.browse = WeightsChooser()
        self.browse.chosen.connect(self._weights_chosen)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights)
        weights_row.addWidget(self.browse)
        self.device = combo(*((name, name) for name in ("auto", "cpu", "cuda", "mps")))
        self.precision = combo(("fp32", "fp32"), ("bf16 (mixed)", "bf16"), ("fp16 (mixed)", "fp16"))
        self.resolution = combo(*((label, index) for index, (label, _, _) in enumerate(RESOLUTIONS)))
        self.variant = combo(("full (dual softmax)", "full"), ("opt (logit threshold)", "opt"))
        self.backend = combo(
            ("Fastest checked (auto)", "auto"),
            ("PyTorch", "torch"),
            ("ONNX Runtime (extra [onnx])", "onnxruntime"),
            ("OpenVINO (extra [openvino])", "openvino"),
        )
        self.backend.setToolTip(
            "auto: the fastest installed backend once it has been checked to give PyTorch's matches (prepared in "
            "the background after a first run); or choose one, and compare two with Keep current run as A"
        )
        self.internal_threshold = number_box(0.0, 1.0, MatchOptions().internal_threshold, 0.01)
        self.internal_threshold.setToolTip("The model's own coarse threshold: the lowest score the slider can reach")
        self.run_button = QPushButton("Match")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        self.pending_label = QLabel("")
        self.pending_label.setWordWrap(True)
        self.pending_label.setStyleSheet("color: #e0a020;")
        form.addRow("matcher", self.matcher)
        form.addRow("weights", weights_row)
        form.addRow("device", self.device)
        form.addRow("precision", self.precision)
        form.addRow("resolution", self.resolution)
        form.addRow("variant", self.variant)
        form.addRow("backend", self.backend)
        form.addRow("model floor", self.internal_threshold)
        form.addRow(buttons)
        form.addRow(self.pending_label)
        self._option_widgets: dict[str, QWidget] = {
            "weights": self.weights,
            "device": self.device,
            "precision": self.precision,
            "resolution": self.resolution,
            "variant": self.variant,
            "backend": self.backend,
            "model floor": self.internal_threshold,
        }
        fields = {name: weights_row if name == "weights" else widget for name, widget in self._option_widgets.items()}
        self._option_labels = {name: form.labelForField(field) for name, field in fields.items()}
        for name, widget in (
            ("matcher", self.matcher),
            ("device", self.device),
            ("precision", self.precision),
            ("variant", self.variant),
            ("backend", self.backend),
            ("internal_threshold", self.internal_threshold),
        ):
            self._bind_option(widget, "match_options", name)
        model = self.model
        bind(
            self.weights,
            model.match_options_changed,
            lambda: model.match_options.weights or "",
            lambda text: model.set_match_options(replace(model.match_options, weights=text.strip() or None)),
        )
        bind(self.resolution, model.match_options_changed, lambda: resolution_index(model.match_options), self._resize)
        return box

    def _threshold_group(self) -> QGroupBox:
        box = QGroupBox("Threshold")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.slider = slider(0, SLIDER_STEPS, 0)
        self.spin = number_box(0.0, 1.0, self.model.threshold, 0.01, decimals=3)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.count_label = QLabel("no matches yet")
        self.count_label.setWordWrap(True)
        # Two lines' room, fixed: a new count never re-lays out the panel.
        self.count_label.setFixedHeight(2 * self.count_label.fontMetrics().lineSpacing() + 4)
        self.region_label = QLabel("")
        self.region_label.setWordWrap(True)
        self.clear_region = QPushButton("Clear box")
        self.clear_region.clicked.connect(lambda: self.model.set_region(None))
        layout.addLayout(row)
        layout.addWidget(self.count_label)
        region_row = QHBoxLayout()
        region_row.addWidget(self.region_label, 1)
        region_row.addWidget(self.clear_region)
        layout.addLayout(region_row)
        model = self.model
        changed = model.threshold_changed
        self._follow_slider = bind(
            self.slider, changed, lambda: model.threshold, model.set_threshold, *self._slider_scale()
        )
        self._follow_spin = bind(self.spin, changed, lambda: model.threshold, model.set_threshold)
        self.update_region_label()
        return box

    def _display_group(self) -> QGroupBox:
        box = QGroupBox("Display")
        form = QFormLayout(box)
        self.layout_mode = combo(("automatic", "auto"), ("side by side", "side"), ("stacked", "stacked"))
        self.color_mode = combo(
            ("confidence", "confidence"),
            ("inlier / outlier", "inlier"),
            ("residual", "residual"),
            ("A/B: shared / gained / lost", "compare"),
            ("stored verification (matching run)", "stored"),
            ("relative pose: Sampson error under E", "pose"),
            ("COLMAP model: 3D point or not", "model"),
        )
        self.legend = Legend()
        display = self.model.display
        self.line_width = number_box(0.5, 6.0, display.line_width, 0.5, decimals=1, suffix=" px")
        self.opacity = slider(5, 100, round(display.opacity * 100))
        self.line_budget = integer_box(0, 1_000_000, display.line_budget, 500, suffix=" lines")
        self.line_budget.setSpecialValueText("every line")
        self.line_budget.setToolTip(
            "Draw at most this many lines, spread evenly over image 0 (0: every line). "
            "Counts, histogram, geometry and exports always use every match."
        )
        self.show_lines = QCheckBox("match lines (off: keypoints only)")
        self.markers = QCheckBox("keypoint markers")
        self.heatmap = QCheckBox("match density heatmap")
        self.ambiguity = QCheckBox("where else could it match (selected match)")
        self.ambiguity.setToolTip(
            "The selected match's coarse confidence over image 1 (EfficientLoFTR results): several bright peaks "
            "mean repeated structure, where a match may have picked the wrong copy"
        )
        form.addRow("layout", self.layout_mode)
        form.addRow("colour by", self.color_mode)
        form.addRow(self.legend)
        form.addRow("line width", self.line_width)
        form.addRow("opacity", self.opacity)
        form.addRow("line budget", self.line_budget)
        form.addRow(self.show_lines)
        form.addRow(self.markers)
        form.addRow(self.heatmap)
        form.addRow(self.ambiguity)
        bind_field(self.layout_mode, self.model.view, "layout")
        display = self.model.display
        for widget, name in (
            (self.color_mode, "color_mode"),
            (self.line_width, "line_width"),
            (self.line_budget, "line_budget"),
            (self.show_lines, "show_lines"),
            (self.markers, "show_markers"),
            (self.heatmap, "heatmap"),
            (self.ambiguity, "ambiguity"),
        ):
            bind_field(widget, display, name)
        bind_field(self.opacity, display, "opacity", scale=100)
        return box

    def _geometry_group(self) -> QGroupBox:
        box = QGroupBox("Geometry (MAGSAC++)")
        form = QFormLayout(box)
        self.geometry_model = combo(("fundamental matrix (F)", "F"), ("homography (H)", "H"), ("none", "none"))
        defaults = GeometryOptions()  # each default is written once, on the dataclass
        self.geometry_threshold = number_box(0.1, 50.0, defaults.threshold_px, 0.5, decimals=2, suffix=" px")
        self.geometry_confidence = number_box(0.5, 0.99999, defaults.confidence, 0.001, decimals=5)
        self.geometry_iters = integer_box(10, 1_000_000, defaults.max_iters, 1000)
        self.geometry_label = QLabel("–")
        self.geometry_label.setWordWrap(True)
        self.overlay = QCheckBox("overlay image 1 on image 0 (H)")
        self.overlay_blend = slider(0, 100, round(self.model.display.overlay_blend * 100))
        self.overlay_checker = QCheckBox("checkerboard")
        form.addRow("model", self.geometry_model)
        form.addRow("inlier threshold", self.geometry_threshold)
        form.addRow("confidence", self.geometry_confidence)
        form.addRow("max iterations", self.geometry_iters)
        form.addRow(self.geometry_label)
        form.addRow(self.overlay)
        form.addRow("blend", self.overlay_blend)
        form.addRow(self.overlay_checker)
        for widget, name in (
            (self.geometry_model, "model"),
            (self.geometry_threshold, "threshold_px"),
            (self.geometry_confidence, "confidence"),
            (self.geometry_iters, "max_iters"),
        ):
            self._bind_option(widget, "geometry_options", name)
        display = self.model.display
        bind_field(self.overlay, display, "overlay")
        bind_field(self.overlay_blend, display, "overlay_blend", scale=100)
        bind_field(self.overlay_checker, display, "overlay_checker")
        return box

    def _compare_group(self) -> QGroupBox:
        box = QGroupBox("Compare runs (A/B)")
        form = QFormLayout(box)
        self.compare_label = QLabel("")
        self.compare_label.setWordWrap(True)
        self.keep_button = QPushButton("Keep current run as A")
        self.keep_button.clicked.connect(lambda: self.model.keep_as_a("kept run"))
        model = self.model
        self.a_threshold = number_box(0.0, 1.0, DEFAULT_DISPLAY_THRESHOLD, 0.01)
        bind(self.a_threshold, model.run_a_changed, lambda: model.a_threshold() or 0.0, model.set_a_threshold)
        self.a_follows_b = QCheckBox("apply B's threshold to A")
        bind(self.a_follows_b, model.run_a_changed, lambda: model.a_follows_b, model.set_a_follows_b)
        form.addRow(self.compare_label)
        form.addRow("A threshold", self.a_threshold)
        form.addRow(self.a_follows_b)
        form.addRow(self.keep_button)
        self.matchers_button = QPushButton("Compare several matchers…")
        self.matchers_button.setToolTip(
            "Run several matchers on this pair, read their figures side by side, show two as A/B"
        )
        self.matchers_button.clicked.connect(self.matchersRequested)
        form.addRow(self.matchers_button)
        self.update_comparison()
        return box

    # --- binding to the model --------------------------------------------------------------------------------
    def _bind_option(self, widget: Widget, options: str, name: str) -> None:
        """A widget bound to one field of the model's frozen options (`match_options` or `geometry_options`): an
        edit replaces the options with that field changed."""
        model = self.model
        changed = model.match_options_changed if options == "match_options" else model.geometry_options_changed
        setter = model.set_match_options if options == "match_options" else model.set_geometry_options
        bind(
            widget,
            changed,
            lambda: getattr(getattr(model, options), name),
            lambda value: setter(replace(getattr(model, options), **{name: value})),  # type: ignore[operator]
        )

    def _resize(self, index: int) -> None:
        _, long_side, size = RESOLUTIONS[index]
        self.model.set_match_options(replace(self.model.match_options, long_side=long_side, size=size))

    def option_label(self, name: str) -> QWidget:
        """The form's label of a matcher setting ("device", "model floor", ...)."""
        return self._option_labels[name]

    def _weights_chosen(self, path: str) -> None:
        self.model.set_match_options(replace(self.model.match_options, weights=path or None))

    def _slider_scale(self) -> tuple[Any, Any]:
        """Score to slider position and back, over the score range of the result on screen."""

        def to_slider(score: float) -> int:
            low, high = self.model.score_range
            return int(round((score - low) / max(high - low, 1e-12) * SLIDER_STEPS))

        def to_score(value: int) -> float:
            low, high = self.model.score_range
            return low + (high - low) * value / SLIDER_STEPS

        return to_slider, to_score

    # --- following the model ------------------------------------------------------------------------------
    def show_pending_options(self) -> None:
        options = self.model.match_options
        neural = options.matcher == "eloftr"
        for widget in (*self._option_widgets.values(), *self._option_labels.values(), self.browse):
            widget.setEnabled(neural)  # SIFT has none of these settings (style.qss dims them)
        pending = set(self.model.pending_options())
        renamed = {"long_side": "resolution", "size": "resolution", "internal_threshold": "model floor"}
        pending_names = {renamed.get(name, name) for name in pending}
        for name, widget in self._option_widgets.items():
            widget.setStyleSheet(PENDING_STYLE if name in pending_names else "")
        self.matcher.setStyleSheet(PENDING_STYLE if "matcher" in pending_names else "")
        self.pending_label.setText(
            f"Changed since the result on screen: {', '.join(sorted(pending_names))}. Press Match to apply."
            if pending_names
            else ""
        )

    def _score_range_changed(self) -> None:
        low, high = self.model.score_range
        logits = high > 1.0
        with signals_blocked(self.spin, self.a_threshold):
            self.spin.setRange(low, high)
            self.spin.setSingleStep(0.01 if not logits else 0.5)
            self.a_threshold.setRange(low, high)
        self.spin.setToolTip("similarity logits (opt variant)" if logits else "match confidence, 0 to 1")
        self._follow_spin()
        self._follow_slider()

    def update_counts(self, *_: object) -> None:
        model = self.model
        result = model.result
        if result is None:
            show_text(self.count_label, "no matches yet")
            return
        visible, drawn = model.visible_count(), model.drawn_line_count()
        text = f"{visible:,} of {len(result):,} matches visible"
        if model.display.show_lines and model.overlay_shown():
            text += " · lines hidden under the overlay"
        elif model.display.show_lines and drawn < visible:
            text += f" · showing {drawn:,} of {visible:,} lines (line budget)"
        show_text(self.count_label, text)

    def update_geometry_label(self, *_: object) -> None:
        model = self.model
        assessment = model.assessment()
        if model.result is None:
            text, colour = "–", ""
        elif model.geometry_options.model == "none":
            text, colour = "no geometric model chosen", ""
        elif assessment is None:
            verb = "re-fitting" if model.refitting() else "fitting"
            text, colour = f"{verb} {model.geometry_options.model}…", ""
        else:
            colour = {"reliable": "", "unreliable": "color: #e0a020;", "no model": "color: #e06060;"}[
                assessment.verdict
            ]
            text = assessment.label
            fit = model.current_fit()
            if fit is not None and not model.fit_is_fresh():
                text += f"\n(fitted on {fit.fitted_on:,} matches at threshold {fit.threshold:.3g}; refitting…)"
        show_text(self.geometry_label, text, colour)
        self._update_legend()

    def _update_legend(self, *_: object) -> None:
        colors = self.model.line_colors()
        self.legend.set_spec(colors.legend if colors is not None else None, self.model.assessment())

    def update_region_label(self) -> None:
        region = self.model.region
        self.clear_region.setEnabled(region is not None)
        if region is None:
            self.region_label.setText("Box selection: Shift-drag on either image.")
        else:
            self.region_label.setText(
                f"Box on image {region.side}: x {region.x0:.0f}–{region.x1:.0f}, y {region.y0:.0f}–{region.y1:.0f}"
            )

    def update_comparison(self, *_: object) -> None:
        model = self.model
        run_a = model.run_a
        self.keep_button.setEnabled(model.result is not None)
        if run_a is None or model.result is None:
            show_text(self.compare_label, "Run twice on the same pair (or keep a run) to compare.")
            self.a_threshold.setEnabled(False)
            return
        a_threshold = model.a_threshold()
        self.a_threshold.setEnabled(not model.a_follows_b)
        comparison = model.comparison()
        head = f"A = {run_a.label} ({run_a.result.info.matcher}, threshold {a_threshold:.3g}), B = current"
        if comparison is None:
            show_text(self.compare_label, head + "\ncomparing…")
        else:
            show_text(
                self.compare_label,
                f"{head}\nshared {comparison.shared:,} · gained {comparison.gained:,} · lost {comparison.lost:,}"
                + describe_displacement(comparison),
            )
        self._update_legend()

    def _busy_changed(self, *_: object) -> None:
        self.run_button.setEnabled(self.model.has_pair)
        self.cancel_button.setEnabled(self.model.busy)
