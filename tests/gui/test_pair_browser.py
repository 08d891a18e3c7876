"""The pair browser and matrix widgets on a pycolmap-written run: choosing, keyboard navigation, filters, checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from core.runs.base import StoredPair
from core.runs.open import open_run
from core.runs.reference_poses import find_model_beside, load_reference_poses
from gui.inspection import BrowsingContext
from gui.pair_table import COLUMNS, PairTable
from gui.views.pair_browser import PairBrowser
from gui.views.pair_matrix import PairMatrix, heat_colors
from tests.scene_run import UNRELATED, write_grey_images, write_scene_run

pytest.importorskip("pycolmap")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def context(tmp_path):
    database = write_scene_run(tmp_path, count=4)
    browsing = BrowsingContext()
    browsing.open(open_run(database), load_reference_poses(find_model_beside(database)))
    yield browsing
    browsing.close()


@pytest.fixture
def table(context):
    return PairTable(context.run, context.reference)


@pytest.fixture
def browser(qtbot, context, table):
    widget = PairBrowser(context)
    qtbot.addWidget(widget)
    widget.set_table(table)
    widget.show()
    yield widget
    widget.shutdown()


def test_arrow_keys_walk_the_pairs_and_emit_what_the_inspector_needs(qtbot, browser, table):
    chosen: list[StoredPair] = []
    browser.pairChosen.connect(chosen.append)
    browser.select_pair(int(table.order[0]))
    browser.view.setFocus()
    qtbot.keyClick(browser.view, Qt.Key.Key_Down)
    qtbot.keyClick(browser.view, Qt.Key.Key_Down)
    assert [p.index for p in chosen] == [int(i) for i in table.order[:3]]
    pair = chosen[-1]
    assert pair.names == table.run.pair_names(pair.index)
    assert len(pair.result) == table.run.pairs.matches[pair.index]
    expected = table.run.read_pair(pair.index).result.kpts0
    np.testing.assert_array_equal(pair.result.kpts0, expected)


def test_sorting_from_the_header_keeps_the_current_pair(qtbot, browser, table):
    browser.select_pair(int(table.order[2]))
    current = browser.current_pair
    browser.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # matches
    assert int(table.order[0]) == table.pair_at(*UNRELATED)
    assert browser.current_pair == current
    assert browser.view.currentIndex().row() == table.position_of(current)


def test_filters_from_the_widgets(qtbot, browser, table):
    browser.name_filter.setText("view2")
    qtbot.waitUntil(lambda: len(table.order) == 3, timeout=2000)
    assert browser.model.rowCount() == 3
    browser.name_filter.setText("")
    browser.inlier_filter.setValue(30)
    qtbot.waitUntil(lambda: len(table.order) == 1, timeout=2000)
    assert "showing 1 of 6 pairs" in browser.status.text()


def test_background_check_fills_the_table_and_reports_auc(qtbot, browser, table):
    browser.check_visible()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=20000)
    assert (table.check_inliers >= 0).all()
    assert "pose AUC@5/10/20" in browser.status.text()
    junk = table.pair_at(*UNRELATED)
    assert browser.model.data(browser.model.index(table.position_of(junk), 6)) == "no overlap found"


def test_cancelled_check_stops_early(qtbot, browser, table, monkeypatch):
    import time

    import core.runs.quick_check

    real = core.runs.quick_check.check_pair

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.runs.quick_check, "check_pair", slow)
    browser.check_visible()
    qtbot.waitUntil(lambda: browser._checked_count >= 1, timeout=10000)
    browser.cancel_button.click()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=10000)
    assert "check cancelled" in browser.status.text()
    assert 1 <= int((table.check_inliers >= 0).sum()) < len(table)


def test_matrix_click_chooses_the_pair(qtbot, context, table):
    matrix = PairMatrix(context)
    qtbot.addWidget(matrix)
    matrix.set_table(table)
    chosen: list[StoredPair] = []
    matrix.pairChosen.connect(chosen.append)

    class Click:
        def __init__(self, x, y):
            self._pos = QPointF(x, y)
            self.accepted = False

        def pos(self):
            return self._pos

        def accept(self):
            self.accepted = True

    a, b = UNRELATED
    matrix._clicked(Click(b + 0.5, a + 0.5))
    matrix._clicked(Click(2.5, 2.5))  # the diagonal: no pair
    assert [set(p.names) for p in chosen] == [{f"view{a}.png", f"view{b}.png"}]
    pairs = table.run.pairs
    rgba = heat_colors(table.sort_values("matches"), pairs.image0, pairs.image1, 4)
    assert rgba.shape == (4, 4, 4) and (rgba[np.diag_indices(4)][:, 3] == 0).all(), "no pair: transparent"
    assert (rgba[a, b] == rgba[b, a]).all() and rgba[a, b, 3] == 255
    assert not (rgba[a, b] == rgba[0, 1]).all(), "20 matches and 300 matches get different colours"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["BROKEN"], "not a COLMAP database"),
        (["BROKEN", "--bogus"], "unrecognized arguments"),
        (["FOLDER", "--focal", "-3"], "--focal must be a positive"),
        (["FOLDER", "--images", "nowhere"], "image folder not found"),
    ],
)
def test_browse_command_refuses_bad_input_with_one_line(tmp_path, arguments, message):
    broken = tmp_path / "database.db"
    broken.write_bytes(b"nonsense" * 100)
    folder = tmp_path / "run"
    write_scene_run(folder.mkdir() or folder, count=2)
    substitutes = {"BROKEN": str(broken), "FOLDER": str(folder), "nowhere": str(tmp_path / "nowhere")}
    argv = [substitutes.get(a, a) for a in arguments]
    out = subprocess.run(
        [sys.executable, "-m", "gui.cli", "browse", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and message in out.stderr, out.stderr


def test_browse_command_opens_the_run_without_torch(tmp_path):
    write_scene_run(tmp_path, count=3)
    script = (
        "import os, sys, tempfile; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "os.environ['MATCH_INSPECTOR_SETTINGS_DIR'] = tempfile.mkdtemp();"
        "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "from gui.browse_command import build_parser, open_for_browsing; from gui.main_window import MainWindow;"
        f"run, reference, focal = open_for_browsing(build_parser().parse_args([{str(tmp_path)!r}]));"
        "w = MainWindow(); w.show(); w.matching_run.open(run, reference, focal); app.processEvents();"
        "w.close(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_chosen_pair_opens_in_the_inspector_with_stored_inliers_and_its_pose(make_window, qtbot, tmp_path):
    import pycolmap

    database = write_scene_run(tmp_path, count=3)
    db = pycolmap.Database.open(str(database))  # verify one pair the way COLMAP stores it: every other match
    first, second = sorted(db.read_all_images(), key=lambda image: image.image_id)[:2]
    geometry = pycolmap.TwoViewGeometry()
    geometry.config = pycolmap.TwoViewGeometryConfiguration.UNCALIBRATED
    geometry.inlier_matches = db.read_matches(first.image_id, second.image_id)[::2]
    db.write_two_view_geometry(first.image_id, second.image_id, geometry)
    db.close()
    images = write_grey_images(database, tmp_path / "images")
    window = make_window()
    assert window.matching_run.open_path(str(database), str(images))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=20000)
    related = int(np.argmax(window.browsing.run.pairs.inliers))  # the pair with most stored inliers
    window.matching_run.browser.select_pair(related)
    qtbot.waitUntil(lambda: window.matching_run.pair.index == related and window.is_idle(), timeout=20000)
    pair = window.matching_run.pair
    assert pair.inliers is not None and pair.inliers.any()
    model = window.model
    np.testing.assert_array_equal(model.result.kpts0, pair.result.kpts0)
    assert model.visible_count() == len(pair.result), "every stored match is shown"
    assert model.display.color_mode == "stored"
    np.testing.assert_array_equal(model.line_colors().index == 0, pair.inliers)
    qtbot.waitUntil(lambda: "pose error vs reference" in window.matching_run.summary.text(), timeout=20000)
    # The relative pose colours every match by its Sampson error under E.
    assert model.geo.pose_for(model.result_id) is not None
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("pose"))
    colours = model.line_colors()
    assert colours.legend.title.startswith("Sampson error under E") and len(colours.index) == len(pair.result)
    # Re-matching the pair makes the stored matches run A.
    window.model.set_match_options(window.model.match_options.__class__(matcher="sift"))
    window.controls.color_mode.setCurrentIndex(window.controls.color_mode.findData("stored"))
    window.matching_run.rematch.click()
    qtbot.waitUntil(lambda: window.model.run_a is not None and window.is_idle(), timeout=60000)
    assert window.model.run_a.result is not None and len(window.model.run_a.result) == len(pair.result)
    assert window.controls.color_mode.currentData() == "confidence", "new matches have no stored verification"


def test_hloc_match_counts_arrive_in_the_background(qtbot, tmp_path):
    from core.formats.hloc import PairMatches, write_hloc

    rng = np.random.default_rng(0)
    names = [f"im{i}.png" for i in range(5)]
    pairs = []
    for a in range(5):
        for b in range(a + 1, 5):
            n = 10 * (a + b + 1)
            kpts = np.column_stack([np.arange(n) * 2.0, rng.uniform(0, 90, n)]).astype(np.float32)  # no 1-px merges
            pairs.append(PairMatches(names[a], names[b], kpts, kpts + 1, np.ones(n, np.float32)))
    write_hloc(pairs, tmp_path / "features.h5", tmp_path / "matches.h5", {name: (100, 200) for name in names})
    run = open_run(tmp_path)
    table = PairTable(run)
    assert len(run.uncounted()) == 10
    context = BrowsingContext("browse", run)
    widget = PairBrowser(context)
    qtbot.addWidget(widget)
    widget.set_table(table)
    qtbot.waitUntil(lambda: not widget.counting, timeout=10000)
    assert len(run.uncounted()) == 0
    expected = {(p.name0, p.name1): len(p.kpts0) for p in pairs}
    for index in range(len(table)):
        assert table.display(index, "matches") == str(expected[run.pair_names(index)])
    assert "counting" not in widget.status.text()
    widget.shutdown()
    run.close()


def test_typing_a_focal_length_drops_old_checks_and_reopens_the_pair(qtbot, browser, context, table):
    browser.select_pair(0)
    browser.check_visible()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=20000)
    assert (table.check_inliers >= 0).all()
    chosen: list[StoredPair] = []
    browser.pairChosen.connect(chosen.append)
    browser.focal.setValue(450.0)
    browser.focal.editingFinished.emit()
    assert context.focal_px == 450.0
    assert not hasattr(table.run, "focal_px"), "the context owns the typed focal length, not the run"
    assert (table.check_inliers == -1).all() and table.pose_auc() is None
    assert [k.fx for k in chosen[-1].intrinsics] == [450.0, 450.0]
    assert chosen[-1].intrinsics[0].source == "typed in"


def test_a_pair_that_cannot_be_read_is_shown_as_an_error_not_raised(make_window, qtbot, tmp_path):
    """hloc's matches0 stored 2-D: the banner and the check column's tooltip say so in one line."""
    from tests.two_image_runs import KEYPOINTS, keypoints, replace_dataset, write_hloc

    matches = write_hloc(tmp_path, (keypoints(0), keypoints(1)))
    replace_dataset(matches, "a.jpg/b.jpg/matches0", np.zeros((KEYPOINTS, 2), np.int32))
    problem = (
        "matches.h5: cannot read pair a.jpg – b.jpg "
        "(matches.h5 a.jpg/b.jpg/matches0 has shape (6, 2), not (N,) keypoint indices)"
    )
    window = make_window()
    assert window.matching_run.open_path(str(matches))
    assert window.message_bar.label.text() == problem and window.message_bar.isVisible()
    browser = window.matching_run.browser
    qtbot.waitUntil(lambda: not browser.counting, timeout=10000)
    check = browser.model.index(0, [c.key for c in COLUMNS].index("check"))
    assert browser.model.data(check, Qt.ItemDataRole.ToolTipRole) == f"cannot count the matches of pair 0 ({problem})"


def test_the_pair_summary_says_which_matches_the_reader_dropped(make_window, qtbot, tmp_path):
    from PIL import Image

    from tests.two_image_runs import NAMES, SIZE, keypoints, write_hloc

    points = keypoints(0), keypoints(1)
    points[0][1] = np.nan
    matches = write_hloc(tmp_path, points)
    (tmp_path / "images").mkdir()
    for name in NAMES:
        Image.fromarray(np.full((*SIZE, 3), 90, np.uint8)).save(tmp_path / "images" / name)
    window = make_window()
    assert window.matching_run.open_path(str(matches))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=20000)
    assert len(window.model.result) == 4
    lines = window.matching_run.summary.text().splitlines()
    assert lines[1:4] == ["4 stored matches", "no verified inliers stored", "dropped 1 match with non-finite keypoints"]


def _scene_in_window(make_window, qtbot, tmp_path, count=4):
    """The scene run opened in the window, with grey pictures of the stored sizes as its images."""

    database = write_scene_run(tmp_path, count=count)
    images = write_grey_images(database, tmp_path / "images")
    window = make_window()
    assert window.matching_run.open_path(str(database), str(images))
    qtbot.waitUntil(lambda: window.model.result is not None and window.is_idle(), timeout=20000)
    return window


def test_browsed_pair_status_bar_shows_no_empty_sizes(make_window, qtbot, tmp_path):
    window = _scene_in_window(make_window, qtbot, tmp_path)
    text = window.run_status.info.text()
    assert "0x0" not in text and "· – ·" not in text and "·  ·" not in text, text
    assert text.startswith("COLMAP database") and text.endswith("300 of 300 visible"), text


def test_matrix_axes_name_the_images(make_window, qtbot, tmp_path):
    window = _scene_in_window(make_window, qtbot, tmp_path)
    plot = window.matching_run.matrix.plot
    assert plot.getAxis("bottom").labelText == "image index"
    left = plot.getAxis("left")
    ticks = dict(left._tickLevels[0])  # the ticks the axis draws
    assert ticks[0] == "0: view0.png" and ticks[3] == "3: view3.png"


def _cell_pixels(view, row: int, column: int) -> np.ndarray:
    from PySide6.QtGui import QImage

    rect = view.visualRect(view.model().index(row, column))
    image = view.viewport().grab(rect).toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return pixels[:, : image.width()].copy()


def test_a_narrow_pair_column_keeps_the_start_of_the_names_and_tooltips_the_rest(qtbot, browser, table):
    view = browser.view
    view.setColumnWidth(0, 400)
    qtbot.wait(20)
    wide = _cell_pixels(view, 0, 0)
    view.setColumnWidth(0, 90)
    qtbot.wait(20)
    narrow = _cell_pixels(view, 0, 0)
    kept = narrow.shape[1] * 6 // 10  # the text before the ellipsis is the start of the full text
    assert (narrow[:, :kept] == wide[:, :kept]).all(), "the start of the first name must be shown"
    pair = int(table.order[0])
    tooltip = browser.model.data(browser.model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "\n".join(table.run.pair_names(pair))


def test_pose_error_says_why_a_pair_in_the_reference_has_none(qtbot, browser, table):
    browser.check_button.click()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=20000)
    junk = table.pair_at(*UNRELATED)
    assert table.has_reference(junk), "the junk pair's images are both in the reference model"
    pose_column = next(i for i, c in enumerate(COLUMNS) if c.key == "pose_error")
    cell = browser.model.index(table.position_of(junk), pose_column)
    assert cell.data() == "no pose"
    assert "no confident pose" in cell.data(Qt.ItemDataRole.ToolTipRole)
    good = browser.model.index(table.position_of(table.pair_at(0, 1)), pose_column)
    assert float(good.data()) < 0.5
    assert "over 6 pairs (1 without a confident pose count as failed)" in browser.status.text()


def test_an_auc_of_zero_says_what_it_was_computed_on(qtbot, browser, table):
    browser.inlier_filter.setFocus()
    browser.inlier_filter.lineEdit().selectAll()
    qtbot.keyClicks(browser.inlier_filter.lineEdit(), "30")
    qtbot.keyClick(browser.inlier_filter.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(table.order) == 1, timeout=2000)  # only the junk pair
    browser.check_button.click()
    qtbot.waitUntil(lambda: browser.check_button.isEnabled(), timeout=20000)
    text = browser.status.text()
    assert "pose AUC@5/10/20: 0.0 / 0.0 / 0.0 over 1 pair (1 without a confident pose count as failed)" in text


def test_no_reference_pose_is_said_instead_of_an_auc(qtbot, tmp_path):
    database = write_scene_run(tmp_path, count=3)
    run = open_run(database)
    empty = type(load_reference_poses(find_model_beside(database)))(tmp_path, {})
    widget = PairBrowser(BrowsingContext("browse", run, empty))
    qtbot.addWidget(widget)
    widget.set_table(PairTable(run, empty))
    widget.check_button.click()
    qtbot.waitUntil(lambda: widget.check_button.isEnabled(), timeout=20000)
    assert "pose AUC: no checked pair has a reference pose" in widget.status.text()
    assert widget.model.index(0, len(COLUMNS) - 1).data() == "no ref."
    widget.shutdown()
    run.close()
