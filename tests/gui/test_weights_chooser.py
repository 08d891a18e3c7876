"""The weights button takes a checkpoint file or a model folder."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from gui.widgets.weights_chooser import CHECKPOINT_FILTER, WeightsChooser


def test_a_file_or_a_folder_is_chosen_and_cancel_chooses_nothing(qtbot, monkeypatch, tmp_path):
    asked = []

    def open_file(parent, caption, folder, file_filter):
        asked.append(("file", folder, file_filter))
        return answers.pop(0), file_filter

    def open_folder(parent, caption, folder):
        asked.append(("folder", folder, None))
        return answers.pop(0)

    monkeypatch.setattr(QFileDialog, "getOpenFileName", open_file)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", open_folder)
    chooser = WeightsChooser(start_folder=lambda: str(tmp_path))
    qtbot.addWidget(chooser)
    picked = []
    chooser.chosen.connect(picked.append)

    answers = [str(tmp_path / "eloftr_outdoor.ckpt"), str(tmp_path / "model"), "", ""]
    chooser.file_action.trigger()
    chooser.folder_action.trigger()
    chooser.file_action.trigger()  # cancelled
    chooser.folder_action.trigger()  # cancelled
    assert picked == [str(tmp_path / "eloftr_outdoor.ckpt"), str(tmp_path / "model")]
    assert [kind for kind, _, _ in asked] == ["file", "folder", "file", "folder"]
    assert all(folder == str(tmp_path) for _, folder, _ in asked)
    assert "*.safetensors" in CHECKPOINT_FILTER and "*.ckpt" in CHECKPOINT_FILTER
    assert [a.text() for a in chooser.menu().actions()] == [
        "Checkpoint file…",
        "Model folder (config.json + model.safetensors)…",
    ]
