"""A verdict travels with its numbers: "no model" draws no model and exports no flags; exports say the verdict."""

from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image

from tests.gui.conftest import load, wait_idle
from tests.gui.fakes import NoisyMatcher, UnrelatedMatcher
from tests.gui.test_geometry_settings import choose


def _window(make_window, qtbot, image_files, matcher, geometry):
    window = make_window(matcher)
    choose(window.controls.geometry_model, geometry)
    load(qtbot, window, image_files[0], image_files[1])
    qtbot.waitUntil(window.model.fit_is_fresh, timeout=10000)
    return window


def test_no_model_fit_exports_no_flags_and_no_matrix(make_window, qtbot, image_files, tmp_path):
    # 12 unrelated matches: MAGSAC returns an F supported by 7 matches, below its minimal sample of 8.
    window = _window(make_window, qtbot, image_files, UnrelatedMatcher(count=12), "F")
    label = window.controls.geometry_label.text()
    assert label.startswith("F: no model (only 7 inliers"), label
    assert window.model.current_fit().geometry.ok, "the estimator did return a matrix"
    window.model.select(0)
    xs, _ = window.view.epipolar_item.getData()
    assert xs is None or len(xs) == 0, "no epipolar line from a model judged absent"
    assert window.inspector.fields["residual"].text() == "– (no geometric model)"
    choose(window.controls.color_mode, "inlier")
    assert window.controls.legend.spec.labels != ("inlier", "outlier")

    window.exports.export_matches(str(tmp_path / "m.csv"))
    with open(tmp_path / "m.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert "inlier" not in header and "residual_px" not in header
    provenance = json.loads((tmp_path / "m.csv.provenance.json").read_text())
    assert "geometry" not in provenance
    assert provenance["geometry_verdict"] == "no model"
    assert provenance["geometry_assessment"] == label
    for name in ("m.json", "m.npz"):
        window.exports.export_matches(str(tmp_path / name))
    data = json.loads((tmp_path / "m.json").read_text())
    assert "inliers" not in data and "geometry" not in data["provenance"]
    with np.load(tmp_path / "m.npz") as npz:
        assert "inliers" not in npz.files and json.loads(str(npz["provenance"]))["geometry_verdict"] == "no model"


def test_no_model_in_a_box_hides_the_overlay_and_the_projection(make_window, qtbot, image_files):
    window = _window(make_window, qtbot, image_files, NoisyMatcher(count=400), "H")
    model, view = window.model, window.view
    window.controls.overlay.setChecked(True)
    qtbot.waitUntil(view.overlay_item.isVisible, timeout=5000)
    fit = model.current_fit()
    outlier = int(np.flatnonzero(~fit.geometry.inliers & model.visible_mask())[0])
    x, y = model.result.kpts0[outlier]
    from gui.inspection import Region

    model.set_region(Region(0, x - 0.01, y - 0.01, x + 0.01, y + 0.01))  # Shift-drag around one outlier
    assert model.visible_count() == 1
    assert "H: no model" in window.controls.geometry_label.text()
    assert not view.overlay_item.isVisible(), "no overlay from a homography judged absent"
    assert view.drawn_line_count() == 1, "the line is drawn again instead"
    model.select(outlier)
    assert len(view.projection_item.data) == 0
    model.set_region(None)
    qtbot.waitUntil(view.overlay_item.isVisible, timeout=5000)


def test_export_records_options_and_unreliable_verdict(make_window, qtbot, image_files, tmp_path):
    window = _window(make_window, qtbot, image_files, UnrelatedMatcher(count=30), "F")
    label = window.controls.geometry_label.text()
    assert "unreliable" in label, label
    window.exports.export_matches(str(tmp_path / "m.json"))
    provenance = json.loads((tmp_path / "m.json").read_text())["provenance"]
    assert provenance["geometry"]["verdict"] == "unreliable" == provenance["geometry_verdict"]
    options = provenance["options"]
    assert options["matcher"] == "eloftr" and options["exif"] is True and options["threshold"] == window.model.threshold
    assert options["geometry"] == {"model": "F", "threshold_px": 3.0, "confidence": 0.999, "max_iters": 10000}


def test_png_caption_wraps_instead_of_being_cut(make_window, qtbot, image_files, tmp_path):
    window = _window(make_window, qtbot, image_files, UnrelatedMatcher(count=30), "F")
    path = tmp_path / "view.png"
    window.exports.export_png(str(path))
    wait_idle(qtbot, window)
    with Image.open(path) as picture:
        band = np.asarray(picture.convert("RGB"))[240:]
    text_rows = np.flatnonzero((band > 200).all(axis=2).any(axis=1))
    gaps = np.flatnonzero(np.diff(text_rows) > 4)
    assert len(gaps) >= 2, "the caption takes more than one line, then the legend follows"
    last_column = np.flatnonzero((band[: text_rows[gaps[0]] + 1] > 200).all(axis=2).any(axis=0)).max()
    assert last_column < band.shape[1] - 4, "no caption text runs into the picture's edge"
