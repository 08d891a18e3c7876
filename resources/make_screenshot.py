"""Regenerates screenshot.png: the window on the sample pair, as the README shows it.

    xvfb-run -a -s "-screen 0 1920x1200x24" python resources/make_screenshot.py

SIFT baseline (no neural weights are bundled), homography by MAGSAC++, lines coloured as inliers/outliers, the
best match selected with its patches.
"""

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())

from PySide6.QtWidgets import QApplication  # noqa: E402

from core.geometry import GeometryOptions  # noqa: E402


def main() -> None:
    app = QApplication([])
    app.setStyleSheet((HERE / "style.qss").read_text())
    from gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1680, 1000)
    window.show()
    model = window.model
    model.set_match_options(replace(model.match_options, matcher="sift"))
    model.set_geometry_options(GeometryOptions(model="H"))
    window.open_sample_pair()
    deadline = time.monotonic() + 120
    while not (model.result is not None and model.fit_is_fresh() and window.is_idle()):
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > deadline:
            raise SystemExit("the sample pair did not finish matching")
    model.set_display(color_mode="inlier")
    model.step_selection(1)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    window.grab().save(str(HERE / "screenshot.png"))
    window.shutdown()


if __name__ == "__main__":
    main()
