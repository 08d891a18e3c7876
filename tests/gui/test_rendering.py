"""What the view draws, checked on rendered pixels: lines where visible matches are, none where hidden ones were,
the selection, box selection with the mouse, the line budget, and the PNG export agreeing with the screen."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from core.formats.drawing import SELECTION_COLOR
from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import FakeMatcher


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _render(window) -> np.ndarray:
    return _pixels(window.view.grab().toImage())


def _widget_point(window, view_point: QPointF) -> tuple[int, int]:
    point = window.view.mapFromScene(window.view.view.mapViewToScene(view_point))
    return int(round(point.x())), int(round(point.y()))


def _midpoint(window, index: int, t: float = 0.5) -> QPointF:
    a, b = window.view.match_view_point(index, 0), window.view.match_view_point(index, 1)
    return QPointF(a.x() + t * (b.x() - a.x()), a.y() + t * (b.y() - a.y()))


def _distance_to_lines(point: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    direction = ends - starts
    t = np.clip(((point - starts) * direction).sum(1) / np.maximum((direction**2).sum(1), 1e-12), 0, 1)
    return np.linalg.norm(starts + t[:, None] * direction - point, axis=1)


@pytest.fixture
def drawn(make_window, qtbot, image_files):
    """A matched window drawing opaque 3-px lines on a large canvas."""
    window = make_window(FakeMatcher(count=24, shift=(60.0, 25.0)))
    window.resize(1400, 900)
    window.controls.geometry_model.setCurrentIndex(window.controls.geometry_model.findData("none"))
    window.model.set_display(line_width=3.0, opacity=1.0)
    window.model.view.layout = "side"
    load(qtbot, window, image_files[0], image_files[1])
    window.model.set_threshold(0.0)
    qtbot.wait(50)
    return window


def _isolated(window, candidates: np.ndarray, others: np.ndarray, clearance: float) -> list[int]:
    """Matches whose line midpoint is at least `clearance` screen pixels from every other line in `others`."""
    ends = [np.array([[p.x(), p.y()] for p in (window.view.match_view_point(i, s) for i in others)]) for s in (0, 1)]
    pixel = max(window.view.view.viewPixelSize())
    chosen = []
    for index in candidates:
        middle = _midpoint(window, int(index))
        keep = others != index
        distance = _distance_to_lines(np.array([middle.x(), middle.y()]), ends[0][keep], ends[1][keep])
        if distance.min(initial=np.inf) / pixel >= clearance:
            chosen.append(int(index))
    return chosen


def test_visible_lines_are_drawn_in_their_colour_and_hidden_ones_vanish(drawn, qtbot):
    window, model = drawn, drawn.model
    threshold = float(np.median(model.result.scores))
    model.set_threshold(threshold)
    visible = np.flatnonzero(model.visible_mask())
    hidden = np.flatnonzero(~model.visible_mask())
    with_lines = _render(window)
    model.set_display(show_lines=False)
    without = _render(window)
    model.set_display(show_lines=True)
    colours = model.line_colors()
    checked_visible = _isolated(window, visible, visible, clearance=6)
    assert len(checked_visible) >= 3
    for index in checked_visible:
        x, y = _widget_point(window, _midpoint(window, index))
        expected = colours.palette[colours.index[index]].astype(int)
        assert np.abs(with_lines[y, x].astype(int) - expected).max() <= 40, (index, with_lines[y, x], expected)
    checked_hidden = _isolated(window, hidden, visible, clearance=6)
    assert len(checked_hidden) >= 3
    for index in checked_hidden:
        x, y = _widget_point(window, _midpoint(window, index))
        assert np.abs(with_lines[y, x].astype(int) - without[y, x].astype(int)).max() <= 8, index


def test_selection_is_highlighted(drawn):
    window = drawn
    index = 3
    window.model.select(index)
    x, y = _widget_point(window, _midpoint(window, index, 0.4))
    pixel = _render(window)[y, x].astype(int)
    assert np.abs(pixel - np.array(SELECTION_COLOR)).max() <= 40, pixel


def test_screen_cache_holds_the_lines_where_the_view_draws_them(drawn, qtbot):
    """The on-screen path (a cached raster at the viewport's transform) agrees with the view's geometry."""
    window = drawn
    window.view.viewport().repaint()
    cache = window.view.lines._cache
    assert cache is not None
    alpha = _pixels(cache.convertToFormat(QImage.Format.Format_ARGB32).convertToFormat(QImage.Format.Format_RGB888))
    assert alpha.shape[:2] == (window.view.viewport().height(), window.view.viewport().width())
    for index in _isolated(window, np.arange(len(window.model.result)), np.arange(len(window.model.result)), 6)[:5]:
        x, y = _widget_point(window, _midpoint(window, index))
        assert alpha[y - 1 : y + 2, x - 1 : x + 2].max() > 0, index
    # Raising the threshold steps back: the cache then holds fewer lines (restored from a snapshot).
    window.model.set_threshold(0.9)
    window.view.viewport().repaint()
    assert window.view.lines._cache_position == window.view.drawn_line_count() == window.model.visible_count()


def test_png_export_matches_the_screen_colours(drawn, qtbot, tmp_path):
    window, model = drawn, drawn.model
    model.set_display(color_mode="confidence")
    window.legend_action.trigger()  # File ▸ Legend and caption in PNG, unticked
    path = tmp_path / "view.png"
    window.exports.export_png(str(path))
    wait_idle(qtbot, window)
    with Image.open(path) as picture:
        png = np.asarray(picture.convert("RGB"))
    screen = _render(window)
    image0 = model.images[0]
    offset = np.array([image0.size[1] + 8, 0])
    indices = np.arange(len(model.result))
    checked = _isolated(window, indices, indices, clearance=8)
    assert len(checked) >= 5

    def nearest_colour(picture: np.ndarray, x: int, y: int, colour: np.ndarray) -> np.ndarray:
        """The pixel around (x, y) closest to `colour` (a 1-px line may fall on either side of a rounding)."""
        patch = picture[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(int)
        return patch[np.abs(patch - colour).max(axis=1).argmin()]

    colours = model.line_colors()
    for index in checked:
        expected = colours.palette[colours.index[index]].astype(int)
        k0 = model.result.kpts0[index] + 0.5
        k1 = model.result.kpts1[index] + 0.5 + offset
        px, py = np.round((k0 + k1) / 2).astype(int)
        x, y = _widget_point(window, _midpoint(window, index))
        on_screen, in_png = nearest_colour(screen, x, y, expected), nearest_colour(png, px, py, expected)
        assert np.abs(on_screen - in_png).max() <= 40, (index, on_screen, in_png)
        assert np.abs(in_png - expected).max() <= 40, (index, in_png, expected)


def test_png_export_has_caption_legend_and_selection(drawn, qtbot, tmp_path):
    window, model = drawn, drawn.model
    model.select(2)
    path = tmp_path / "with_legend.png"
    window.exports.export_png(str(path))
    wait_idle(qtbot, window)
    with Image.open(path) as picture:
        png = np.asarray(picture.convert("RGB"))
    h0 = model.images[0].size[0]
    assert png.shape[0] > h0 + 20, "a band with the caption and the legend under the pair"
    band = png[h0:]
    assert (band.astype(int).sum(axis=2) > 400).any(), "text and legend colours in the band"
    k0 = model.result.kpts0[2] + 0.5
    k1 = model.result.kpts1[2] + 0.5 + np.array([model.images[0].size[1] + 8, 0])
    px, py = (0.6 * k0 + 0.4 * k1).astype(int)
    assert np.abs(png[py, px].astype(int) - np.array(SELECTION_COLOR)).max() <= 40


def _drag(window, start: QPointF, end: QPointF, modifiers) -> None:
    viewport = window.view.viewport()
    a = QPointF(*_widget_point(window, start))
    b = QPointF(*_widget_point(window, end))
    left = Qt.MouseButton.LeftButton

    def send(kind, position, buttons):
        event = QMouseEvent(kind, position, viewport.mapToGlobal(position), left, buttons, modifiers)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, a, left)
    for t in np.linspace(0.1, 1.0, 8):
        send(QEvent.Type.MouseMove, a + (b - a) * float(t), left)
    send(QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton)


def test_shift_drag_selects_a_box_that_filters_lines_table_and_counts(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=400))
    window.resize(1400, 900)
    load(qtbot, window, image_files[0], image_files[1])
    window.model.set_threshold(0.0)
    qtbot.wait(50)
    _drag(window, QPointF(20.5, 30.5), QPointF(160.5, 200.5), Qt.KeyboardModifier.ShiftModifier)
    region = window.model.region
    assert region is not None and region.side == 0
    assert (region.x0, region.y0, region.x1, region.y1) == pytest.approx((20, 30, 160, 200), abs=1.5)
    inside = region.contains(window.model.result.kpts0)
    assert window.model.visible_count() == int(inside.sum()) < 400
    assert window.view.drawn_line_count() == int(inside.sum())
    assert window.controls.count_label.text().startswith(f"{int(inside.sum()):,} of 400")
    qtbot.waitUntil(lambda: window.table.model_.rowCount() == int(inside.sum()), timeout=2000)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.model.region is None and window.model.visible_count() == 400
    # A plain drag pans instead.
    before = window.view.view.viewRange()
    _drag(window, QPointF(50.5, 50.5), QPointF(120.5, 90.5), Qt.KeyboardModifier.NoModifier)
    assert window.model.region is None and window.view.view.viewRange() != before


def test_line_budget_thins_evenly_and_says_so(make_window, qtbot, image_files):
    window = make_window(FakeMatcher(count=6000))
    load(qtbot, window, image_files[0], image_files[1])
    window.model.set_threshold(0.0)
    window.model.set_display(line_budget=1000)
    drawn = window.view.drawn_line_count()
    assert 500 < drawn <= 1000
    assert f"showing {drawn:,} of 6,000 lines" in window.controls.count_label.text()
    kept = window.model.line_subsample().drawable
    cells = np.histogram2d(*window.model.result.kpts0[kept].T, bins=4)[0]
    assert cells.min() > 0.5 * cells.mean(), "every part of the image keeps lines"
    window.model.set_display(show_lines=False)  # keypoints only: every visible match
    assert window.view.points.drawn_count() == 6000 and window.view.drawn_line_count() == 0
