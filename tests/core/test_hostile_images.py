"""Every hostile image either loads correctly or is refused with one line; never a crash, hang or traceback."""

from __future__ import annotations

import resource

import numpy as np
import pytest

from core.cli import run_cli
from core.formats.images import ImageLoadError, load_image
from tests.hostile import build_corpus, expected_red_corner


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("hostile"))


def test_corpus_size(corpus):
    assert len(corpus) == 25


def test_each_file_loads_or_is_refused_in_one_line(corpus):
    for name, path, (outcome, detail) in corpus:
        if outcome == "loads":
            image = load_image(path)
            assert image.size == detail, name
            assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3, name
        else:
            with pytest.raises(ImageLoadError) as info:
                load_image(path)
            message = str(info.value)
            assert detail in message and "\n" not in message, (name, message)
            assert message.startswith(path.name), (name, message)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(corpus, orientation):
    path = next(p for n, p, _ in corpus if n == f"exif_orientation_{orientation}.png")
    pixels = load_image(path).pixels
    h, w = pixels.shape[:2]
    row, col = expected_red_corner(orientation)
    corner = pixels[(h - 1) * row, (w - 1) * col]
    assert tuple(corner) == (255, 0, 0), f"orientation {orientation}: red block not at corner {(row, col)}"
    raw = load_image(path, apply_exif=False).pixels
    assert raw.shape[:2] == (24, 40) and tuple(raw[0, 0]) == (255, 0, 0)


def test_content_of_odd_modes(corpus):
    images = {n: p for n, p, _ in corpus}
    gif = load_image(images["animated.gif"]).pixels
    assert np.abs(gif.astype(int) - (200, 30, 30)).max() < 10, "first frame of the animation"
    gray16 = load_image(images["gray16.png"]).pixels
    assert gray16.max() > 200 and np.all(gray16[..., 0] == gray16[..., 1])
    rgba = load_image(images["rgba.png"]).pixels
    assert rgba.min() >= 120, "half-transparent pixels are composited on white"


def test_decompression_bomb_is_refused_before_decoding(corpus):
    path = next(p for n, p, _ in corpus if n == "bomb_30000.png")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageLoadError, match="30000 x 30000"):
        load_image(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50


def test_cli_exits_2_with_one_line_for_each_refused_file(corpus, tmp_path, capsys):
    good = next(p for n, p, (o, _) in corpus if n == "image.webp")
    for name, path, (outcome, _) in corpus:
        if outcome != "refused":
            continue
        code = run_cli(["match", str(path), str(good), "--matcher", "sift", "-o", str(tmp_path / "m.csv")])
        err = capsys.readouterr().err.strip()
        assert code == 2, name
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (name, err)


def test_cli_matches_files_that_load(corpus, tmp_path, capsys):
    for name in ("gray16.tif", "cmyk.jpg", "palette_transparent.png", "image.webp"):
        path = next(p for n, p, _ in corpus if n == name)
        code = run_cli(["match", str(path), str(path), "--matcher", "sift", "-o", str(tmp_path / "m.npz")])
        assert code == 0, (name, capsys.readouterr().err)
