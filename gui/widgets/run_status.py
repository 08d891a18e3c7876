"""The status bar's permanent part: what the result on screen is (matcher, device, sizes, stage times, counts) and
the progress of a run."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from ..inspection import InspectionModel


class RunStatus(QWidget):
    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        self.info = QLabel("")
        # Long lines are cut rather than setting the window's minimum width (the full text is in the tooltip).
        self.info.setMinimumWidth(120)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.info)
        layout.addWidget(self.progress)
        model.result_changed.connect(self.update_info)
        model.visible_changed.connect(self.update_info)

    def show_progress(self, percent: int) -> None:
        """Percent done of the run, or -1 when none runs."""
        self.progress.setVisible(percent >= 0)
        if percent >= 0:
            self.progress.setValue(percent)

    def update_info(self, *_: object) -> None:
        model = self.model
        result = model.result
        if result is None:
            self.info.setText("")
            return
        info = result.info
        # Matches read from a run carry no device, precision, inference size or timings: say nothing of them.
        shown = (info.backend, info.device, info.precision)
        parts = [info.matcher, *(value for value in shown if value and value != "–")]
        if all(h > 0 and w > 0 for h, w in info.inference_sizes):
            parts.append(" / ".join(f"{w}x{h}" for h, w in info.inference_sizes))
        stages = " ".join(f"{k} {v * 1000:.0f}ms" for k, v in info.timings.items() if k != "load")
        if stages:
            parts.append(stages)
        parts.append(f"{model.visible_count():,} of {len(result):,} visible")
        self.info.setText(" · ".join(parts))
        why = f"\nbackend {info.backend}: {info.backend_reason}" if info.backend_reason else ""
        self.info.setToolTip(self.info.text() + why)
