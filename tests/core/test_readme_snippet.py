"""The README's Python API snippet (the seed's calls) runs as written; only the weights source points at local
random weights, as no trained weights exist offline."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.analysis.synthetic import textured_scene, warp

README = Path(__file__).resolve().parents[2] / "README.md"


def _api_snippet() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_readme_snippet_runs_unchanged(random_weights, tmp_path, monkeypatch, capsys):
    scene = textured_scene(300, 400, 21)
    Image.fromarray(scene).save(tmp_path / "a.jpg", quality=95)
    Image.fromarray(warp(scene, np.array([[1, 0, 6.0], [0, 1, 4.0], [0, 0, 1]]))).save(tmp_path / "b.jpg", quality=95)
    monkeypatch.chdir(tmp_path)
    code = _api_snippet()
    assert code.count('"zju-community/efficientloftr"') == 1
    namespace: dict = {}
    exec(code.replace('"zju-community/efficientloftr"', repr(random_weights)), namespace)
    processed = namespace["processed_outputs"][0]
    assert len(processed["matching_scores"]) > 0 and float(processed["matching_scores"].min()) > 0.2
    assert processed["keypoints0"].dtype == torch.float32
    # Original-image pixels (the images are 400 x 300, the model saw 640 x 480).
    assert float(processed["keypoints0"][:, 0].max()) < 400 and float(processed["keypoints0"][:, 1].max()) < 300
    assert namespace["visualized_images"][0].size == (800, 300)
    assert len(capsys.readouterr().out.splitlines()) == len(processed["matching_scores"])
