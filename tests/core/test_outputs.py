"""Files we write and read back: modes, durability, no leftovers, damaged inputs, resume, unwritable targets."""

from __future__ import annotations

import csv
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.cli import run_cli
from core.errors import ExportError
from core.formats.files import write_atomically
from core.formats.match_files import build_match_file, read_matches, write_matches
from core.formats.session import Session, SessionError, load_session, save_session
from core.types import MatchResult, RunInfo
from core.version import __version__
from tests.image_folders import write_plain_pairs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def images(tmp_path) -> Path:
    return write_plain_pairs(tmp_path / "images", 3)


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text("".join(f"a{i}.png b{i}.png\n" for i in range(3)))
    return path


def _result(n: int = 30) -> MatchResult:
    rng = np.random.default_rng(0)
    info = RunInfo("sift", "none", "cpu", "fp32", ((240, 320), (240, 320)), 0.0, {"match": 0.5})
    kpts = rng.uniform(0, 200, (2, n, 2)).astype(np.float32)
    return MatchResult(kpts[0], kpts[1], rng.uniform(0, 1, n).astype(np.float32), ((240, 320), (240, 320)), info)


def _batch_argv(pairs: Path, images: Path, out: Path, *extra: str) -> list[str]:
    return ["batch", "--pairs", str(pairs), "--images", str(images), "-o", str(out), "--no-progress", *extra]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.endswith("-journal"))


def test_every_writer_gives_0644_under_umask_022_and_leaves_no_temp_files(umask_022, images, pairs_file, tmp_path):
    out = tmp_path / "out"
    written = []
    for fmt in ("hloc", "colmap", "csv"):
        assert run_cli(_batch_argv(pairs_file, images, out / fmt, "--matcher", "sift", "--format", fmt)) == 0
        written += [p for p in (out / fmt).rglob("*") if p.is_file()]
    single = tmp_path / "single"
    single.mkdir()
    match_file = build_match_file(_result(), (None, None), 0.0)
    for suffix in ("csv", "json", "npz"):
        written.append(write_matches(single / f"m.{suffix}", match_file))
    written.append(save_session(single / "s", Session(("a", "b"), (None, None), _result(), 0.2)))
    names = {p.name for p in written}
    assert {"features.h5", "matches.h5", "database.db", "failed_pairs.txt", "pairs_matched.txt"} <= names
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes
    assert _leftovers(tmp_path) == []


def test_a_failing_writer_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(target, broken)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_write_atomically_flushes_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    write_atomically(tmp_path / "x.bin", lambda tmp: tmp.write_bytes(b"data"))
    assert synced == [False, True], "the file, then the folder that holds the new name"


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage"])
@pytest.mark.parametrize("suffix", ["npz", "json", "csv", "misession"])
def test_damaged_files_are_one_clear_error(tmp_path, suffix, damage):
    if suffix == "misession":
        path = save_session(tmp_path / "s", Session(("a", "b"), (None, None), _result(), 0.2))
    else:
        path = write_matches(tmp_path / f"m.{suffix}", build_match_file(_result(), (None, None), 0.0))
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"\x00\xffPK" * 20}[damage])
    expected = SessionError if suffix == "misession" else ExportError
    with pytest.raises(expected) as info:
        load_session(path) if suffix == "misession" else read_matches(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_csv_reads_with_a_plain_dict_reader_and_provenance_describes_itself(images, tmp_path):
    out = tmp_path / "m.csv"
    code = run_cli(["match", str(images / "a0.png"), str(images / "b0.png"), "-o", str(out), "--matcher", "sift"])
    assert code == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["index", "x0", "y0", "x1", "y1", "score"] and len(rows) > 10
    provenance = read_matches(out).provenance
    assert provenance["app_version"] == __version__
    assert provenance["image0_sha256"] == hashlib.sha256((images / "a0.png").read_bytes()).hexdigest()
    assert provenance["image0_size_hw"] == [240, 320] and provenance["image0_exif_orientation"] == 1
    assert set(provenance["timings_s"]) and provenance["units"]["timings_s"] == "seconds"


def test_version():
    done = subprocess.run(
        [sys.executable, "-c", "from gui.cli import main; import sys; sys.exit(main())", "--version"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"match-inspector {__version__}"


def test_resume_rematches_broken_foreign_and_other_option_outputs(images, pairs_file, tmp_path, capsys):
    out = tmp_path / "out"
    argv = _batch_argv(pairs_file, images, out, "--matcher", "sift")
    assert run_cli(argv) == 0
    capsys.readouterr()
    files = sorted((out / "pairs").iterdir())
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated by a crash
    files[1].write_bytes(b"")  # empty
    assert run_cli(argv) == 0
    assert "3 pairs: 2 matched, 1 already done, 0 failed" in capsys.readouterr().out
    assert all(len(read_matches(p).scores) > 10 for p in files)
    # Another pair's file under this pair's name, and other options: both matched again.
    files[0].write_bytes(files[2].read_bytes())
    assert run_cli(argv) == 0
    assert "1 matched, 2 already done" in capsys.readouterr().out
    assert run_cli([*argv, "--threshold", "0.5"]) == 0
    assert "3 matched, 0 already done" in capsys.readouterr().out


def test_missing_weights_stop_a_batch_once_with_exit_2(images, pairs_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(_batch_argv(pairs_file, images, out)) == 2  # default Hub weights, offline, empty cache
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not in the local cache" in err
    assert list((out / "pairs").iterdir()) == []


@pytest.mark.parametrize(
    "argv, blocker",
    [
        (["match", "{img0}", "{img1}", "-o", "{tmp}/m.csv", "--viz", "{tmp}/v.png"], "v.png"),
        (["match", "{img0}", "{img1}", "-o", "{tmp}/m.npz"], "m.npz"),
        (["batch", "--pairs", "{pairs}", "--images", "{images}", "-o", "{tmp}", "--format", "colmap"], "database.db"),
        (["batch", "--pairs", "{pairs}", "--images", "{images}", "-o", "{tmp}", "--format", "hloc"], "matches.h5"),
    ],
)
def test_unwritable_targets_exit_2_before_matching(argv, blocker, images, pairs_file, tmp_path, capsys, monkeypatch):
    import core.cli

    def never(*args, **kwargs):
        raise AssertionError("matched although the output cannot be written")

    monkeypatch.setattr(core.cli, "run_in_worker", never)  # where `match` starts matching
    monkeypatch.setattr(core.cli, "run_batch", never)
    (tmp_path / blocker).mkdir()  # a folder where the file should go: unwritable even for root
    fill = {"{img0}": images / "a0.png", "{img1}": images / "b0.png", "{pairs}": pairs_file, "{images}": images}
    fill["{tmp}"] = tmp_path
    for key, value in fill.items():
        argv = [a.replace(key, str(value)) for a in argv]
    assert run_cli([*argv, "--matcher", "sift"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and blocker in err and "internal" not in err
    assert not (tmp_path / "m.csv").exists()


def test_damaged_collection_files_are_replaced_whole(images, pairs_file, tmp_path):
    """hloc/COLMAP files left damaged by an earlier crash are rewritten, never appended to."""
    import sqlite3

    import h5py

    out = tmp_path / "out"
    out.mkdir()
    for name in ("features.h5", "matches.h5", "database.db"):
        (out / name).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 10)
    for fmt in ("hloc", "colmap"):
        assert run_cli(_batch_argv(pairs_file, images, out, "--matcher", "sift", "--format", fmt)) == 0
    with h5py.File(out / "features.h5", "r") as features:
        assert set(features) == {f"a{i}.png" for i in range(3)} | {f"b{i}.png" for i in range(3)}
    with sqlite3.connect(out / "database.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM matches").fetchone()[0] == 3


def _other_value(default: object) -> object:
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)):
        return default + 1
    if isinstance(default, str):
        return default + "-other"
    return "other"


def test_every_option_that_decides_an_output_is_recorded():
    """The record is read off MatchOptions' fields, so an option added there is compared on resume without anyone
    remembering to add it."""
    from dataclasses import fields, replace

    from core.matchers.output_settings import NOT_DECIDING_OUTPUT, OutputSettings
    from core.types import MatchOptions

    base = OutputSettings(MatchOptions(), 0.2, None, apply_exif=True)
    deciding = [f.name for f in fields(MatchOptions) if f.name not in NOT_DECIDING_OUTPUT]
    assert {"backend", "onnx_model", "weights", "variant", "precision", "long_side", "size"} <= set(deciding)
    for name in deciding:
        changed = replace(base, match=replace(base.match, **{name: _other_value(getattr(base.match, name))}))
        assert changed.record() != base.record(), f"{name} is not recorded"
    for name in NOT_DECIDING_OUTPUT:
        changed = replace(base, match=replace(base.match, **{name: _other_value(getattr(base.match, name))}))
        assert changed.record() == base.record(), name


def test_resume_rematches_a_pair_made_with_another_backend(images, pairs_file, tmp_path):
    from core.batch.outputs import PairJob, is_reusable
    from core.cli import batch_settings, build_parser

    out = tmp_path / "out"
    argv = _batch_argv(pairs_file, images, out, "--weights", "w.safetensors")
    torch_settings = batch_settings(build_parser().parse_args(argv))
    openvino_settings = batch_settings(build_parser().parse_args([*argv, "--backend", "openvino"]))
    path = tmp_path / "a0.png__b0.png.npz"
    job = PairJob("a0.png", "b0.png")
    record = torch_settings.output.record()
    write_matches(path, build_match_file(_result(), (job.name0, job.name1), 0.2, options=record))
    assert is_reusable(path, job, torch_settings.output.record())
    assert not is_reusable(path, job, openvino_settings.output.record())
    onnx = batch_settings(build_parser().parse_args([*argv, "--backend", "onnxruntime", "--onnx", "m.onnx"]))
    assert onnx.output.record()["onnx_model"] == "m.onnx" and onnx.output.record()["backend"] == "onnxruntime"


def test_sift_records_what_ran_and_refuses_model_options(images, pairs_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(_batch_argv(pairs_file, images, out, "--matcher", "sift", "--resize", "320")) == 0
    options = read_matches(next((out / "pairs").iterdir())).provenance["options"]
    assert options == {
        "matcher": "sift",
        "long_side": 320,
        "size": None,
        "threshold": 0.2,
        "geometry": None,
        "exif": True,
    }
    capsys.readouterr()
    for flag in (["--backend", "onnxruntime"], ["--onnx", "model.onnx"]):
        assert run_cli(_batch_argv(pairs_file, images, out, "--matcher", "sift", *flag)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{flag[0]} runs the EfficientLoFTR model" in err[0]
