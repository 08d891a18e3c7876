"""Score histogram with a draggable threshold marker that drives the same threshold as the slider."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..inspection import InspectionModel

BINS = 50


class ScoreHistogram(pg.PlotWidget):
    def __init__(self, model: InspectionModel) -> None:
        super().__init__()
        self.model = model
        self.setBackground((28, 28, 30))
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.setLabel("bottom", "score")
        self.setLabel("left", "matches")
        self.setXRange(0, 1, padding=0.02)
        self.curve = pg.PlotCurveItem(
            np.linspace(0, 1, BINS + 1),
            np.zeros(BINS),
            stepMode="center",
            fillLevel=0,
            brush=(90, 160, 255, 120),
            pen=pg.mkPen(90, 160, 255),
        )
        self.addItem(self.curve)
        self.marker = pg.InfiniteLine(
            pos=model.threshold,
            angle=90,
            movable=True,
            pen=pg.mkPen(255, 200, 0, width=2),
            hoverPen=pg.mkPen(255, 240, 0, width=3),
        )
        self.addItem(self.marker)
        self.marker.sigPositionChanged.connect(self._dragged)
        model.result_changed.connect(self.refresh)
        model.threshold_changed.connect(self._threshold_changed)
        self.setMinimumHeight(120)
        self.refresh()

    def refresh(self) -> None:
        """Bins over the result's own score range (0..1, or the logits of the opt variant)."""
        result = self.model.result
        scores = result.scores if result is not None else np.zeros(0)
        low, high = self.model.score_range
        counts, edges = np.histogram(np.clip(scores, low, high), bins=BINS, range=(low, high))
        self.curve.setData(edges, counts)
        self.setXRange(low, high, padding=0.02)
        self.marker.setBounds((low, high))
        self.setLabel("bottom", "score" if high <= 1.0 else "score (similarity logit)")
        self.setYRange(0, max(1, int(counts.max(initial=0))) * 1.05, padding=0)
        self._threshold_changed(self.model.threshold)

    def _dragged(self) -> None:
        self.model.set_threshold(float(self.marker.value()))

    def _threshold_changed(self, value: float) -> None:
        if abs(self.marker.value() - value) > 1e-9:
            self.marker.blockSignals(True)
            self.marker.setValue(value)
            self.marker.blockSignals(False)
