from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import run_cli
from core.formats.match_files import read_matches
from tests.image_folders import write_plain_pairs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def image_dir(tmp_path) -> Path:
    return write_plain_pairs(tmp_path / "images", 3, "sub")


def test_match_writes_the_same_content_in_every_format(image_dir, tmp_path, capsys):
    outputs = {}
    for suffix in ("csv", "json", "npz"):
        out = tmp_path / f"m.{suffix}"
        code = run_cli(
            [
                "match",
                str(image_dir / "a0.png"),
                str(image_dir / "sub" / "b0.png"),
                "--matcher",
                "sift",
                "--geometry",
                "H",
                "--threshold",
                "0.3",
                "-o",
                str(out),
            ]
        )
        assert code == 0
        outputs[suffix] = read_matches(out)
    assert "matches (of" in capsys.readouterr().out
    reference = outputs["npz"]
    assert len(reference.scores) > 20 and reference.scores.min() >= 0.3
    assert reference.inliers is not None and reference.provenance["geometry"]["model"] == "H"
    for other in (outputs["csv"], outputs["json"]):
        np.testing.assert_array_equal(other.kpts0, reference.kpts0)
        np.testing.assert_array_equal(other.kpts1, reference.kpts1)
        np.testing.assert_array_equal(other.scores, reference.scores)
        np.testing.assert_array_equal(other.inliers, reference.inliers)
        same = {k: v for k, v in other.provenance.items() if k != "timings_s"}  # three runs, three timings
        assert same == {k: v for k, v in reference.provenance.items() if k != "timings_s"}


def test_match_with_model_weights_and_picture(image_dir, tmp_path, random_weights):
    out, viz = tmp_path / "m.npz", tmp_path / "m.png"
    code = run_cli(
        [
            "match",
            str(image_dir / "a1.png"),
            str(image_dir / "a1.png"),
            "--weights",
            random_weights,
            "--resize",
            "320",
            "--threshold",
            "0",
            "-o",
            str(out),
            "--viz",
            str(viz),
        ]
    )
    assert code == 0
    data = read_matches(out)
    assert len(data.scores) > 10
    assert data.provenance["weights_source"] == random_weights
    assert data.provenance["inference_sizes"] == [[256, 320], [256, 320]]
    with Image.open(viz) as picture:
        assert picture.size[0] == 320 + 8 + 320 and picture.size[1] > 240, "the pair, then caption and legend"


def test_viz_is_coloured_by_the_geometry_like_the_window(tmp_path):
    """`match --viz --geometry` draws inliers and outliers in the window's colours, with a caption saying so."""
    from core.formats.drawing import INLIER_COLOR, OUTLIER_COLOR
    from resources import resource_path

    out, viz = tmp_path / "m.npz", tmp_path / "m.png"
    pair = [str(resource_path("sample_pair_0.png")), str(resource_path("sample_pair_1.png"))]
    argv = ["match", *pair, "--matcher", "sift", "--geometry", "H", "--threshold", "0.2", "-o", str(out)]
    assert run_cli([*argv, "--viz", str(viz)]) == 0
    data = read_matches(out)
    assert data.inliers is not None and data.inliers.any() and (~data.inliers).any()
    with Image.open(viz) as picture:
        pixels = np.asarray(picture.convert("RGB")).astype(int)
    offset = np.array([1024 + 8, 0])
    hits = {True: 0, False: 0}
    for k0, k1, inlier in zip(data.kpts0, data.kpts1, data.inliers):
        x, y = np.round((k0 + 0.5 + k1 + 0.5 + offset) / 2).astype(int)
        patch = pixels[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3)
        colour = np.array(INLIER_COLOR if inlier else OUTLIER_COLOR)
        hits[bool(inlier)] += bool((np.abs(patch - colour).max(axis=1) <= 30).any())
    assert hits[True] > 0.8 * data.inliers.sum() and hits[False] > 0.5 * (~data.inliers).sum()
    assert pixels.shape[0] > 683, "caption and legend under the pair"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["match", "missing0.png", "missing1.png", "-o", "{tmp}/m.csv"], "missing0.png: file not found"),
        (["match", "{img}", "{img}", "-o", "{tmp}/m.txt"], "output must end in one of"),
        (["match", "{img}", "{img}", "-o", "{tmp}/nofolder/m.csv"], "output folder does not exist"),
        (["match", "{img}", "{img}", "-o", "{tmp}/m.csv", "--frobnicate"], "unrecognized arguments"),
        (["match", "{img}", "{img}", "-o", "{tmp}/m.csv", "--threshold", "7"], "must be between 0 and 1"),
        (["match", "{img}", "{img}", "-o", "{tmp}/m.csv", "--resize", "big"], "is not LONG, WxH or 'full'"),
        (["match", "{img}", "{img}", "-o", "{tmp}/m.csv", "--weights", "{tmp}/nothing.ckpt"], "weights file not"),
        (["batch", "--pairs", "{tmp}/none.txt", "--images", "{tmp}", "-o", "{tmp}/out"], "pairs file not found"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, expected, image_dir, tmp_path, capsys):
    image = str(image_dir / "a0.png")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{img}", image) for a in argv]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def _runtime_error(*args, **kwargs):
    raise RuntimeError("boom")


def _value_error(*args, **kwargs):
    raise ValueError("boom")


@pytest.mark.parametrize("fail", [_runtime_error, _value_error])
def test_internal_error_exits_1_with_one_line_and_the_traceback_logged(fail, image_dir, tmp_path, capsys, monkeypatch):
    """An internal ValueError is not the user's fault: exit 1, and the traceback is in the log. The error is raised
    in the matcher's worker process (which imports `fail` from this module): its type and its traceback there come
    back."""
    import core.matchers.match

    log = tmp_path / "errors.log"
    monkeypatch.setenv("MATCH_INSPECTOR_LOG", str(log))
    monkeypatch.setattr(core.matchers.match, "match_pair", fail)
    assert run_cli(["match", str(image_dir / "a0.png"), str(image_dir / "a0.png"), "-o", str(tmp_path / "m.csv")]) == 1
    err = capsys.readouterr().err.strip()
    name = "RuntimeError" if fail is _runtime_error else "ValueError"
    assert err == f"match-inspector: internal error: {name}: boom (traceback in {log})"
    logged = log.read_text()
    assert "Traceback (most recent call last)" in logged and f'in {fail.__name__}\n    raise {name}("boom")' in logged


def _cli(argv: list[str], **options) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "core.cli", *argv]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **options)


def test_a_matcher_process_that_dies_is_one_line_and_exit_1(image_dir, tmp_path):
    """A crash in the matcher's native code ends its worker process, not the command. The test-only variable makes
    the worker die of SIGFPE on a0.png, as ONNX Runtime once did on a pair without matches."""
    from core.matchers.match import CRASH_TEST_VARIABLE

    image0, image1, out = image_dir / "a0.png", image_dir / "sub" / "b0.png", tmp_path / "m.npz"
    env = dict(os.environ, **{CRASH_TEST_VARIABLE: "a0.png"})
    run = _cli(["match", str(image0), str(image1), "--matcher", "sift", "-o", str(out)], env=env)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stderr
    died = f"match-inspector: the matcher process died (signal SIGFPE) while matching {image0} and {image1}"
    assert stderr.strip().splitlines() == [died] and not stdout and not out.exists()


def _workers_of(pid: int) -> list[int]:
    """The spawned worker processes among `pid`'s children (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _ignores_ctrl_c(pid: int) -> bool:
    """Whether the process ignores SIGINT (bit 2 of SigIgn in /proc): a worker does once it is ready to match."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & 1 << (2 - 1))
    return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_ctrl_c_exits_130_with_one_line_and_ends_the_worker(image_dir, tmp_path, random_weights):
    """Ctrl+C reaches the whole process group, as from a terminal, once the worker ignores it and loads the model to
    match (seconds): the command stops the worker and says so in one line."""
    import signal
    import time

    pair = [str(image_dir / "a0.png"), str(image_dir / "sub" / "b0.png")]
    run = _cli(["match", *pair, "--weights", random_weights, "-o", str(tmp_path / "m.npz")], start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not workers or not _ignores_ctrl_c(workers[0]):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            workers = workers or _workers_of(run.pid)
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130
    assert stderr.strip().splitlines() == ["match-inspector: interrupted"]
    assert not Path(f"/proc/{workers[0]}").exists(), "the worker ended with the command"


# The command's main module, which a spawned worker imports while it starts (after Python's own Ctrl+C handler is in
# place, before the worker ignores Ctrl+C): here that takes two seconds.
SLOWLY_IMPORTED_MAIN = """
import time
if __name__ == "__mp_main__":
    time.sleep(2)
from core.cli import main
if __name__ == "__main__":
    main()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_starting_worker_leaves_ctrl_c_to_the_command(image_dir, tmp_path):
    """A terminal's Ctrl+C reaches the worker too. One still starting must not take it as its own: it died with a
    KeyboardInterrupt traceback on the command's stderr whenever it beat the command to ending it. Sent to the
    worker alone, the Ctrl+C is dropped and the pair is matched."""
    import signal
    import time

    script = tmp_path / "slowly_imported_main.py"
    script.write_text(SLOWLY_IMPORTED_MAIN)
    out = tmp_path / "m.npz"
    command = [sys.executable, str(script), "match", str(image_dir / "a0.png"), str(image_dir / "sub" / "b0.png")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = subprocess.Popen(
        [*command, "--matcher", "sift", "-o", str(out)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (workers := _workers_of(run.pid)):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.01)
        time.sleep(1)  # well inside its two seconds of importing
        assert not _ignores_ctrl_c(workers[0])
        os.kill(workers[0], signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 0 and not stderr and out.is_file(), stderr


def test_entry_point_exit_codes_without_traceback(tmp_path):
    script = "from gui.cli import main; import sys; sys.exit(main())"
    bad = subprocess.run(
        [sys.executable, "-c", script, "match", "nope.png", "nope.png", "-o", str(tmp_path / "x.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.strip() == "match-inspector: nope.png: file not found"
    usage = subprocess.run(
        [sys.executable, "-c", script, "--bogus"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def _pairs_file(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text("# name0 name1\n" + "".join(f"a{i}.png sub/b{i}.png\n" for i in range(3)))
    return path


def test_batch_progress_summary_and_resume(image_dir, tmp_path, capsys):
    pairs, out = _pairs_file(tmp_path), tmp_path / "out"
    argv = ["batch", "--pairs", str(pairs), "--images", str(image_dir), "-o", str(out), "--matcher", "sift"]
    assert run_cli(argv) == 0
    captured = capsys.readouterr()
    assert "3 pairs: 3 matched, 0 already done, 0 failed" in captured.out
    assert "pair/s" in captured.err or "s/pair" in captured.err, "a progress bar on stderr"
    written = sorted(p.name for p in (out / "pairs").iterdir())
    assert written == ["a0.png__sub-b0.png.npz", "a1.png__sub-b1.png.npz", "a2.png__sub-b2.png.npz"]
    before = (out / "pairs" / written[0]).stat().st_mtime_ns
    (out / "pairs" / written[1]).unlink()
    assert run_cli(argv) == 0
    assert "3 pairs: 1 matched, 2 already done, 0 failed" in capsys.readouterr().out
    assert (out / "pairs" / written[0]).stat().st_mtime_ns == before


def test_batch_reports_bad_pairs_and_keeps_going(image_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a0.png sub/b0.png\nmissing.png a1.png\n")
    code = run_cli(
        [
            "batch",
            "--pairs",
            str(pairs),
            "--images",
            str(image_dir),
            "-o",
            str(tmp_path / "out"),
            "--matcher",
            "sift",
            "--no-progress",
        ]
    )
    assert code == 2
    captured = capsys.readouterr()
    assert "1 matched" in captured.out and "1 failed" in captured.out
    assert "failed: missing.png a1.png: missing.png: file not found" in captured.err
