"""Screenshots of the track view on a real run: the rendered scene (tests/rendered_scene.py) matched by our SIFT batch,
verified and triangulated from the known poses by pycolmap (tests/track_scene.py), opened in the window.

    xvfb-run -a -s "-screen 0 1920x1200x24" python resources/make_tracks_screenshot.py [--out DIR] [--readme]

Writes DIR/tracks_strip.png (the longest track and its strip of patches), DIR/tracks_conflict.png (the worst
conflicting track) and DIR/tracks_triangulated.png (keypoints coloured by what the model made of them). --readme also
writes resources/screenshot_tracks.png (the conflict picture, for the README).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MATCH_INSPECTOR_SETTINGS_DIR", tempfile.mkdtemp())  # never the user's window settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the pictures")
    parser.add_argument("--readme", action="store_true", help="also write resources/screenshot_tracks.png")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow
    from tests.track_scene import write_scene_run

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet((HERE / "style.qss").read_text())

    def wait(condition, seconds: float = 60.0) -> None:
        loop_for = int(seconds * 1000)
        waited = 0
        while not condition():
            if waited > loop_for:
                raise TimeoutError("the window did not get there in time")
            loop = QEventLoop()
            QTimer.singleShot(20, loop.quit)
            loop.exec()
            waited += 20

    with tempfile.TemporaryDirectory() as scratch:
        scene = write_scene_run(Path(scratch), views=8, size=(360, 480))
        window = MainWindow()
        window.resize(1600, 1000)
        window.show()
        assert window.matching_run.open_path(str(scene.run), str(scene.images))
        docks = window.track_docks
        docks.dock.raise_()
        window.resizeDocks([docks.dock], [820], Qt.Orientation.Horizontal)
        state = window.tracks
        wait(lambda: state.built is not None)
        view = docks.view

        def show_step(order: str, colour: str, name: str) -> None:
            state.set_step_by(order)  # type: ignore[arg-type]
            state.set_colour_by(colour)  # type: ignore[arg-type]
            state.select_track(-1)
            state.step(1)
            built, track = state.built, state.track
            assert built is not None
            nodes = built.tracks.nodes(track)
            extra = [int(n) for n in nodes if built.conflicts.extra[n]]
            if extra:  # the image holding the conflict's second keypoint
                state.show_image(int(built.tracks.graph.image[extra[0]]))
            wait(lambda: view.strip_layout.count() - 1 == len(nodes))
            wait(lambda: view.image_item.image is not None)
            app.processEvents()  # the strip laid out at its full width
            if extra:
                cell = view.strip_layout.itemAt(list(nodes).index(extra[0])).widget()
                view.strip_scroll.ensureWidgetVisible(cell)
            app.processEvents()
            window.grab().save(str(out / name))
            print(f"{out / name}: track {track}, {built.tracks.length[track]} images")

        show_step("length", "length", "tracks_strip.png")
        show_step("conflict", "length", "tracks_conflict.png")
        show_step("length", "triangulated", "tracks_triangulated.png")
        window.shutdown()
        window.close()
    if args.readme:
        shutil.copy(out / "tracks_conflict.png", ROOT / "resources" / "screenshot_tracks.png")


if __name__ == "__main__":
    main()
