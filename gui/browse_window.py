"""`match-inspector browse PATH [--images DIR]`: a matching run's pair browser, matrix and a preview of the pair.

A small window of its own until the main window hosts the browser as a dock: the preview draws the chosen pair with
its matches coloured by Sampson error under the estimated E (or by the stored inlier flags), beside our check's
summary (stored counts, F inliers, overlap, relative pose, error against a reference model).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QSplitter, QTabWidget

from core.drawing import INLIER_COLOR, OUTLIER_COLOR, draw_matches, residual_colors
from core.io import ImageLoadError, load_image
from core.matching_run import MatchingRun, RunOpenError, StoredPair, open_run
from core.quick_check import check_pair, describe
from core.reference_poses import ReferencePoses, find_model_beside, load_reference_poses
from core.relative_pose import PoseOptions

from .pair_table import PairTable
from .views.pair_browser import PairBrowser
from .views.pair_matrix import PairMatrix

PREVIEW_LINES = 2000  # drawn at most; the summary says how many of how many


class BrowseWindow(QMainWindow):
    def __init__(self, run: MatchingRun, reference: ReferencePoses | None = None) -> None:
        super().__init__()
        self.setWindowTitle(f"Match Inspector — {run.source.name} ({run.kind})")
        self.table = PairTable(run, reference)
        self.browser = PairBrowser()
        self.browser.set_table(self.table)
        self.matrix = PairMatrix()
        self.matrix.set_table(self.table)
        self.picture = QLabel("choose a pair", alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(320, 200)
        self.summary = QLabel("", alignment=Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        pair_page = QSplitter(Qt.Orientation.Vertical)
        pair_page.addWidget(self.picture)
        pair_page.addWidget(self.summary)
        pair_page.setStretchFactor(0, 4)
        pair_page.setSizes([640, 220])
        self.tabs = QTabWidget()
        self.tabs.addTab(pair_page, "Pair")
        self.tabs.addTab(self.matrix, "Matrix")
        self.setCentralWidget(self.tabs)
        dock = QDockWidget("Pairs", self)
        dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.resizeDocks([dock], [640], Qt.Orientation.Horizontal)
        self.browser.pairChosen.connect(self.show_pair)
        self.matrix.pairChosen.connect(self._chosen_in_matrix)
        for source in (self.browser, self.matrix):
            source.pairFailed.connect(lambda message: self.statusBar().showMessage(message))
        self.statusBar().showMessage(f"{len(run.images)} images, {len(self.table)} pairs")
        self._pixels: np.ndarray | None = None

    def _chosen_in_matrix(self, pair: StoredPair) -> None:
        self.browser.select_pair(pair.index, emit=False)
        self.tabs.setCurrentIndex(0)
        self.show_pair(pair)

    def show_pair(self, pair: StoredPair) -> None:
        self.matrix.show_pair(pair.index)
        check = self.table.check(pair.index)
        if check is None:
            check = check_pair(pair, self.table.reference)
            self.table.set_check(pair.index, check)
        lines = describe(pair, check)
        result = pair.result
        if check.pose is not None and check.pose.essential is not None:
            threshold = PoseOptions().threshold_px
            colors = residual_colors(check.pose.sampson_px, threshold)
            lines.append(
                f"lines: Sampson error under E (green 0 px, yellow {threshold:g} px, red from {2 * threshold:g} px)"
            )
        elif pair.inliers is not None:
            colors = np.where(pair.inliers[:, None], INLIER_COLOR, OUTLIER_COLOR).astype(np.uint8)
            lines.append("lines: stored inliers green, the rest red")
        else:
            colors = None  # by score
            lines.append("lines: coloured by match score")
        shown = np.arange(len(result))
        if len(shown) > PREVIEW_LINES:
            shown = np.random.default_rng(0).choice(shown, PREVIEW_LINES, replace=False)
            lines.append(f"drawing {PREVIEW_LINES} of {len(result)} matches")
        images: list[np.ndarray] = []
        for path, size in zip(pair.image_paths, result.image_sizes):
            pixels = np.full((*size, 3), 40, np.uint8)  # no image file: the matches on a grey canvas
            if path is not None:
                try:
                    pixels = load_image(path, apply_exif=pair.exif_applied).pixels
                except ImageLoadError as exc:
                    lines.append(str(exc))
            images.append(pixels)
        picture = draw_matches(
            images[0],
            images[1],
            result.kpts0[shown],
            result.kpts1[shown],
            result.scores[shown],
            width=2,
            colors=None if colors is None else colors[shown],
        )
        self._pixels = np.ascontiguousarray(np.asarray(picture))
        h, w = self._pixels.shape[:2]
        image = QImage(self._pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self._pixmap = QPixmap.fromImage(image)
        self._fit_picture()
        self.summary.setText("\n".join(lines))

    def _fit_picture(self) -> None:
        if getattr(self, "_pixmap", None) is not None:
            mode = Qt.TransformationMode.SmoothTransformation
            self.picture.setPixmap(self._pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio, mode))

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        self._fit_picture()

    def closeEvent(self, event: object) -> None:
        self.browser.shutdown()
        self.table.run.close()
        super().closeEvent(event)  # type: ignore[arg-type]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise RunOpenError(message)  # one line on stderr, exit code 2, like the other commands


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="match-inspector browse",
        description="Browse every pair of a matching run: a COLMAP database, hloc matches.h5, or a batch folder.",
    )
    parser.add_argument("path", help="database.db, matches.h5 (features.h5 beside it) or a folder holding either")
    parser.add_argument("--images", help="the image folder (default: images/ beside the run, if present)")
    parser.add_argument("--pairs", help="hloc pairs file: the pairs to show, in its order")
    parser.add_argument(
        "--focal", type=float, help="focal length in pixels for every image (default: the run's cameras)"
    )
    parser.add_argument("--reference", help="COLMAP model folder with reference poses (default: sparse/0 beside)")
    return parser


def open_for_browsing(args: argparse.Namespace) -> tuple[MatchingRun, ReferencePoses | None]:
    """Raises RunOpenError with a message for the user."""
    run = open_run(args.path, args.images, args.pairs)
    if args.focal is not None:
        if not args.focal > 0:
            run.close()
            raise RunOpenError(f"--focal must be a positive number of pixels, got {args.focal}")
        run.focal_px = args.focal
    model = args.reference or find_model_beside(run.source)
    reference = load_reference_poses(model) if model is not None else None
    return run, reference


def run_browse(argv: list[str]) -> int:
    try:
        run, reference = open_for_browsing(build_parser().parse_args(argv))
    except RunOpenError as exc:
        print(f"match-inspector browse: {exc}", file=sys.stderr)
        return 2
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    window = BrowseWindow(run, reference)
    window.resize(1500, 900)
    window.show()
    if len(window.table):
        window.browser.select_pair(int(window.table.order[0]))
    return app.exec()
