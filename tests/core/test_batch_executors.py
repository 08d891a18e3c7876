"""`batch --executor local --workers N` and `--executor ray`: the same outputs as the serial run (pair files, hloc
files read the way hloc reads them, COLMAP database read by pycolmap), resume after the whole run is killed, a killed
worker replaced with its pairs matched again and nothing written twice, Ctrl+C, failed pairs, and no Ray import
unless asked for. Ray runs as a local instance started by the test (2 CPUs, no dashboard, no network)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.cli import run_cli
from core.formats.match_files import read_matches
from tests.core import hloc_io
from tests.image_folders import write_plain_pairs

ROOT = Path(__file__).resolve().parents[2]
MISSING = "missing.png a1.png"  # a pair that fails: every run lists it


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    """A Ray instance in this process: the executor joins it (and leaves it running) instead of starting its own."""
    ray = pytest.importorskip("ray", reason="Ray is in the [test] extra")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def small_pairs(tmp_path_factory) -> tuple[Path, Path]:
    """(image folder, pairs file): six 240 x 320 pairs and one that fails."""
    root = tmp_path_factory.mktemp("small")
    images = write_plain_pairs(root / "images", 6, "sub")
    pairs = root / "pairs.txt"
    pairs.write_text("".join(f"a{i}.png sub/b{i}.png\n" for i in range(6)) + MISSING + "\n")
    return images, pairs


LARGE_PAIRS = 16


@pytest.fixture(scope="module")
def large_pairs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(image folder, pairs file, the serial run's output): 480 x 640 pairs, enough SIFT work (about 0.2 s a pair)
    that a run is still going when the test has seen its first pair file and kills something."""
    root = tmp_path_factory.mktemp("large")
    images = write_plain_pairs(root / "images", LARGE_PAIRS, "sub", size=(480, 640))
    pairs = root / "pairs.txt"
    pairs.write_text("".join(f"a{i}.png sub/b{i}.png\n" for i in range(LARGE_PAIRS)))
    reference = root / "serial"
    assert run_cli([*_batch_argv(images, pairs, reference, "colmap"), "--matcher", "sift"]) == 0
    return images, pairs, reference


def _batch_argv(images: Path, pairs: Path, out: Path, fmt: str) -> list[str]:
    return ["batch", "--pairs", str(pairs), "--images", str(images), "-o", str(out), "--format", fmt, "--no-progress"]


# Floats written by processes with other thread counts differ in their last bits: the outputs are the same matches
# when the integers and texts are equal and the floats agree within these tolerances.
KEYPOINT_TOLERANCE_PX = 1e-3
SCORE_RELATIVE_TOLERANCE = 1e-5
SHARE_TOLERANCE = 1e-6  # ambiguity, a share in [0, 1] that can be as small as 1e-13


def _pair_files(out: Path) -> dict[str, Any]:
    """Each pair file's arrays and provenance, without the timings (the only field that differs run to run)."""
    files = {}
    for path in sorted((out / "pairs").iterdir()):
        data = read_matches(path)
        record = {key: value for key, value in data.provenance.items() if key != "timings_s"}
        arrays = {
            "kpts0": data.kpts0,
            "kpts1": data.kpts1,
            "scores": data.scores,
            "ambiguity": data.ambiguity,
            "inliers": data.inliers,
            "residuals": data.residuals,
        }
        files[path.name] = (json.dumps(record, sort_keys=True), arrays)
    return files


def _assert_same_pair_files(actual: dict[str, Any], expected: dict[str, Any], label: str) -> None:
    assert sorted(actual) == sorted(expected), label
    for name, (record, arrays) in expected.items():
        assert actual[name][0] == record, (label, name)
        got = actual[name][1]
        for key, want in arrays.items():
            where = (label, name, key)
            if want is None or got[key] is None:
                assert got[key] is None and want is None, where
            elif key in ("kpts0", "kpts1", "residuals"):
                np.testing.assert_allclose(got[key], want, rtol=0, atol=KEYPOINT_TOLERANCE_PX, err_msg=str(where))
            elif key == "scores":
                np.testing.assert_allclose(got[key], want, rtol=SCORE_RELATIVE_TOLERANCE, err_msg=str(where))
            elif key == "ambiguity":
                np.testing.assert_allclose(got[key], want, rtol=0, atol=SHARE_TOLERANCE, err_msg=str(where))
            else:
                np.testing.assert_array_equal(got[key], want, err_msg=str(where))


def _listed(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def _hloc_contents(out: Path) -> dict[str, Any]:
    """What hloc reads: every image's keypoints and every listed pair's matches and scores."""
    pairs = [line.split() for line in _listed(out / "pairs_matched.txt")]
    names = sorted({name for pair in pairs for name in pair})
    keypoints = {name: hloc_io.get_keypoints(out / "features.h5", name) for name in names}
    matches = {}
    for name0, name1 in pairs:
        matches[f"{name0} {name1}"] = hloc_io.get_matches(out / "matches.h5", name0, name1)
    return {"keypoints": keypoints, "matches": matches}


def _assert_same_hloc(actual: dict[str, Any], expected: dict[str, Any], label: str) -> None:
    assert sorted(actual["keypoints"]) == sorted(expected["keypoints"]), label
    for name, keypoints in expected["keypoints"].items():
        np.testing.assert_allclose(actual["keypoints"][name], keypoints, atol=KEYPOINT_TOLERANCE_PX, err_msg=label)
    assert sorted(actual["matches"]) == sorted(expected["matches"]), label
    for pair, (ids, scores) in expected["matches"].items():
        np.testing.assert_array_equal(actual["matches"][pair][0], ids, err_msg=f"{label} {pair}")
        np.testing.assert_allclose(actual["matches"][pair][1], scores, rtol=SCORE_RELATIVE_TOLERANCE, err_msg=label)


def _colmap_contents(database: Path) -> dict[str, Any]:
    """What COLMAP reads (through pycolmap): images, cameras, keypoints and the matches of every image pair."""
    pycolmap = pytest.importorskip("pycolmap")
    db = pycolmap.Database.open(str(database))
    try:
        images = {image.image_id: image for image in db.read_all_images()}
        contents: dict[str, Any] = {"pairs": db.num_matched_image_pairs(), "cameras": {}, "keypoints": {}}
        contents["matches"] = {}
        for image_id, image in images.items():
            camera = db.read_camera(image.camera_id)
            contents["cameras"][image.name] = (camera.width, camera.height)
            contents["keypoints"][image.name] = db.read_keypoints(image_id)
        ids = sorted(images)
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                if db.exists_matches(first, second):
                    pair = f"{images[first].name} {images[second].name}"
                    contents["matches"][pair] = db.read_matches(first, second).tolist()
    finally:
        db.close()
    return contents


def _assert_same_colmap(actual: dict[str, Any], expected: dict[str, Any], label: str) -> None:
    for key in ("pairs", "cameras", "matches"):
        assert actual[key] == expected[key], (label, key)
    assert sorted(actual["keypoints"]) == sorted(expected["keypoints"]), label
    for name, keypoints in expected["keypoints"].items():
        np.testing.assert_allclose(actual["keypoints"][name], keypoints, atol=KEYPOINT_TOLERANCE_PX, err_msg=label)


EXECUTORS = {
    "serial": [],
    "local": ["--executor", "local", "--workers", "2"],
    "ray": ["--executor", "ray", "--workers", "2"],
}


@pytest.mark.parametrize("matcher", ["sift", "eloftr"])
def test_parallel_executors_write_what_the_serial_run_writes(
    matcher, small_pairs, ray_instance, random_weights, tmp_path, capsys, monkeypatch
):
    """The same matches: a worker gets the cores / workers (local: cores // 2; Ray: the instance's 2 CPUs // 2), and
    a different thread count moves floats (fine positions, ambiguity) in their last bits, so they are compared
    within stated tolerances; the serial reference runs with the workers' thread count all the same (its one worker
    keeps a new process's thread count, which OMP_NUM_THREADS sets)."""
    images, pairs = small_pairs
    model = ["--matcher", "sift"] if matcher == "sift" else ["--weights", random_weights, "--resize", "160"]
    threads = {"local": max(1, (os.cpu_count() or 1) // 2), "ray": 1}

    def batch(name: str, executor: list[str]) -> Path:
        out = tmp_path / name
        assert run_cli([*_batch_argv(images, pairs, out, "hloc"), *model, *executor]) == 2  # the missing pair
        assert "7 pairs: 6 matched, 0 already done, 1 failed" in capsys.readouterr().out, name
        # The COLMAP database from the same pair files: a resumed run that matches nothing.
        assert run_cli([*_batch_argv(images, pairs, out, "colmap"), *model, *executor]) == 2
        assert "7 pairs: 0 matched, 6 already done, 1 failed" in capsys.readouterr().out, name
        return out

    serial_runs: dict[int, Path] = {}
    for name in ("local", "ray"):
        if threads[name] not in serial_runs:
            with monkeypatch.context() as environment:
                environment.setenv("OMP_NUM_THREADS", str(threads[name]))
                serial_runs[threads[name]] = batch(f"serial-{threads[name]}-threads", [])
        serial = serial_runs[threads[name]]
        out = batch(name, EXECUTORS[name])
        assert _listed(serial / "failed_pairs.txt") == [MISSING]
        reference = (_pair_files(serial), _hloc_contents(serial), _colmap_contents(serial / "database.db"))
        assert len(reference[0]) == 6 and len(reference[2]["matches"]) == 6
        assert sum(len(ids) for ids, _ in reference[1]["matches"].values()) > 30, "pairs with matches to compare"
        for listing in ("pairs_matched.txt", "failed_pairs.txt"):
            assert (out / listing).read_text() == (serial / listing).read_text(), (name, listing)
        _assert_same_pair_files(_pair_files(out), reference[0], name)
        _assert_same_hloc(_hloc_contents(out), reference[1], name)
        _assert_same_colmap(_colmap_contents(out / "database.db"), reference[2], name)


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _is_worker(pid: int) -> bool:
    """A Ray actor of ours (Ray names the process after it) or a local worker (multiprocessing's spawn entry)."""
    command = _command_line(pid)
    return "PairWorker" in command or "spawn_main" in command


def _start_batch(images: Path, pairs: Path, out: Path, executor: list[str]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "core.cli", *_batch_argv(images, pairs, out, "colmap"), "--matcher", "sift"]
    return subprocess.Popen([*argv, *executor], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_pair_files(run: subprocess.Popen[str], out: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(list((out / "pairs").glob("*.npz"))) < count:  # written atomically: a *.npz is whole
        assert run.poll() is None, f"the run ended early: {run.communicate()}"
        assert time.monotonic() < deadline, "no pair file within 120 s"
        time.sleep(0.02)


@contextmanager
def _batch_under_way(
    images: Path, pairs: Path, out: Path, executor: list[str], files: int
) -> Iterator[tuple[subprocess.Popen[str], list[int]]]:
    """A batch running in a subprocess with `files` pair files written, and its processes; killed afterwards with
    whatever it left behind."""
    run = _start_batch(images, pairs, out, executor)
    processes: list[int] = []
    try:
        _wait_for_pair_files(run, out, files)
        processes += _descendants(run.pid)
        yield run, processes
    finally:
        run.kill()
        _end(processes)


def _end(processes: list[int]) -> None:
    """Kill what a test's run left behind (Ray's agents outlive a driver killed with SIGKILL)."""
    for pid in processes:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _assert_same_as_serial(out: Path, reference: Path) -> None:
    matched = _listed(out / "pairs_matched.txt")
    assert len(matched) == len(set(matched)) == LARGE_PAIRS, "every pair listed once"
    _assert_same_pair_files(_pair_files(out), _pair_files(reference), "against the serial run")
    contents = _colmap_contents(out / "database.db")
    assert contents["pairs"] == LARGE_PAIRS, "one match table per pair"
    _assert_same_colmap(contents, _colmap_contents(reference / "database.db"), "against the serial run")


@pytest.mark.parametrize("executor", ["serial", "local", "ray"])
def test_a_killed_worker_is_replaced_and_its_pairs_matched_again_once(executor, large_pairs, tmp_path):
    if executor == "ray":
        pytest.importorskip("ray", reason="Ray is in the [test] extra")
    images, pairs, reference = large_pairs
    out = tmp_path / "out"
    # one pair file: the workers are up and matching; most pairs are still to do
    with _batch_under_way(images, pairs, out, EXECUTORS[executor], 1) as (run, processes):
        workers = [pid for pid in processes if _is_worker(pid)]
        assert len(workers) == (1 if executor == "serial" else 2), [_command_line(pid) for pid in processes]
        os.kill(workers[0], signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=180)
    assert run.returncode == 0, stderr
    assert f"{LARGE_PAIRS} pairs: {LARGE_PAIRS} matched, 0 already done, 0 failed" in stdout
    assert "1 worker(s) died and were replaced" in stdout
    _assert_same_as_serial(out, reference)


@pytest.mark.parametrize("executor", ["serial", "local"])
def test_a_pair_whose_matcher_dies_fails_alone_and_the_batch_goes_on(executor, small_pairs, tmp_path, capsys):
    """The test-only variable makes a worker die of SIGFPE whenever it matches a2.png, as a crash in the matcher's
    native code would: that pair is listed as failed after three deaths, saying how, and every other pair is written
    as a run without the crash writes it (local: the pairs in flight beside a2 when its worker died are not blamed)."""
    from core.matchers.match import CRASH_TEST_VARIABLE

    images, pairs = small_pairs
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert run_cli([*_batch_argv(images, pairs, reference, "npz"), "--matcher", "sift"]) == 2  # the missing pair
    capsys.readouterr()
    argv = [sys.executable, "-m", "core.cli", *_batch_argv(images, pairs, out, "npz"), "--matcher", "sift"]
    env = dict(os.environ, **{CRASH_TEST_VARIABLE: "a2.png"})
    run = subprocess.run([*argv, *EXECUTORS[executor]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "7 pairs: 5 matched, 0 already done, 2 failed" in run.stdout
    assert "3 worker(s) died and were replaced" in run.stdout
    died = "its worker died 3 times while matching it (last: signal SIGFPE)"
    assert f"failed: a2.png sub/b2.png: {died}" in run.stderr.splitlines()
    assert f"# {died}\na2.png sub/b2.png\n" in (out / "failed_pairs.txt").read_text()
    assert _listed(out / "failed_pairs.txt") == ["a2.png sub/b2.png", MISSING]
    expected = {name: data for name, data in _pair_files(reference).items() if not name.startswith("a2.png")}
    assert len(expected) == 5
    _assert_same_pair_files(_pair_files(out), expected, "beside a pair that kills its worker")
    assert _listed(out / "pairs_matched.txt") == [f"a{i}.png sub/b{i}.png" for i in (0, 1, 3, 4, 5)]


def test_resume_after_the_whole_ray_run_is_killed(large_pairs, ray_instance, tmp_path, capsys):
    images, pairs, reference = large_pairs
    out = tmp_path / "out"
    with _batch_under_way(images, pairs, out, EXECUTORS["ray"], 3) as (run, _):
        run.kill()  # SIGKILL: no clean-up at all, as when a machine goes down
        run.communicate(timeout=60)
    done = len(list((out / "pairs").glob("*.npz")))
    assert 3 <= done < LARGE_PAIRS, "killed midway"
    assert not (out / "database.db").exists()
    assert run_cli([*_batch_argv(images, pairs, out, "colmap"), "--matcher", "sift", *EXECUTORS["ray"]]) == 0
    summary = f"{LARGE_PAIRS} pairs: {LARGE_PAIRS - done} matched, {done} already done, 0 failed"
    assert summary in capsys.readouterr().out
    _assert_same_as_serial(out, reference)


@pytest.mark.parametrize("executor", ["serial", "local", "ray"])
def test_ctrl_c_stops_the_workers_and_leaves_valid_partial_outputs(executor, large_pairs, tmp_path):
    if executor == "ray":
        pytest.importorskip("ray", reason="Ray is in the [test] extra")
    images, pairs, _ = large_pairs
    out = tmp_path / "out"
    with _batch_under_way(images, pairs, out, EXECUTORS[executor], 1) as (run, processes):
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
        time.sleep(1)
        left = [_command_line(pid) for pid in processes if _command_line(pid)]
    assert run.returncode == 130
    ours = [line for line in stderr.splitlines() if line.startswith("match-inspector")]
    assert len(ours) == 1 and "interrupted:" in ours[0] and "run the same command again to resume" in ours[0]
    assert not left, f"still running after Ctrl+C: {left}"
    files = sorted(path.name for path in (out / "pairs").iterdir())
    matched = [line.split() for line in _listed(out / "pairs_matched.txt")]
    assert 1 <= len(files) < LARGE_PAIRS and all(name.endswith(".npz") for name in files), "whole files only"
    assert sorted(f"{a}__{b.replace('/', '-')}.npz" for a, b in matched) == files
    assert _colmap_contents(out / "database.db")["pairs"] == len(files), "the database covers what was done"


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_a_local_run_never_imports_ray(small_pairs, tmp_path):
    images, pairs = small_pairs
    serial = [*_batch_argv(images, pairs, tmp_path / "serial", "npz"), "--matcher", "sift"]
    workers = [*_batch_argv(images, pairs, tmp_path / "workers", "npz"), "--matcher", "sift", "--workers", "2"]
    code = (
        "import sys; from core.cli import run_cli\n"
        f"assert run_cli({serial!r}) == 2 and run_cli({workers!r}) == 2\n"
        "print('ray' in sys.modules)\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"
    assert _listed(tmp_path / "workers" / "pairs_matched.txt") == _listed(tmp_path / "serial" / "pairs_matched.txt")


def test_without_ray_the_ray_executor_says_what_to_install(small_pairs, tmp_path):
    images, pairs = small_pairs
    argv = [*_batch_argv(images, pairs, tmp_path / "out", "npz"), "--matcher", "sift", "--executor", "ray"]
    hide_ray = "import sys; sys.modules['ray'] = None  # as if Ray were not installed\n"
    result = _run_python(f"{hide_ray}from core.cli import run_cli\nsys.exit(run_cli({argv!r}))")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        'match-inspector: --executor ray needs Ray, which is not installed: pip install "match-inspector[ray]"'
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--address", "head:6379"], "--address and --gpus-per-worker need --executor ray"),
        (["--executor", "ray", "--workers", "3"], "the Ray cluster has 2 CPUs and 0 GPUs: it cannot hold 3 workers"),
        (["--executor", "ray", "--gpus-per-worker", "1", "--workers", "1"], "cannot hold 1 workers with 1 CPU and 1"),
    ],
)
def test_executor_options_that_cannot_work_exit_2_with_one_line(
    options, message, small_pairs, ray_instance, tmp_path, capsys
):
    images, pairs = small_pairs
    assert run_cli([*_batch_argv(images, pairs, tmp_path / "out", "npz"), "--matcher", "sift", *options]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not list((tmp_path / "out" / "pairs").iterdir()), "nothing matched"


def _setup_that_fails() -> None:
    raise ImportError("No module named 'core'")  # as on a node where match-inspector is not installed


def test_a_ray_worker_that_cannot_start_stops_the_batch_with_one_line(small_pairs, ray_instance, tmp_path):
    from core.batch.driver import read_pairs, run_batch
    from core.batch.ray_executor import RayError, RayExecutor
    from core.cli import batch_settings, build_parser

    images, pairs = small_pairs
    out = tmp_path / "out"
    (out / "pairs").mkdir(parents=True)
    settings = batch_settings(build_parser().parse_args([*_batch_argv(images, pairs, out, "npz"), "--matcher", "sift"]))
    with pytest.raises(RayError, match=r"^a Ray worker could not start: ImportError: No module named 'core'$"):
        run_batch(read_pairs(pairs), settings, out, "npz", RayExecutor(2, worker_setup=_setup_that_fails), False)


def test_resume_removes_the_temporary_files_a_killed_run_left(small_pairs, tmp_path, capsys):
    """A run killed while writing leaves `.NAME.npz.XXXXXXXX.tmp` files (write_atomically's); the next run removes
    them before it writes, and the folder then opens as a run."""
    from core.runs.open import open_run

    images, pairs = small_pairs
    out = tmp_path / "out"
    assert run_cli([*_batch_argv(images, pairs, out, "colmap"), "--matcher", "sift"]) == 2  # the missing pair
    first = sorted((out / "pairs").glob("*.npz"))[0]
    first.unlink()  # the pair the killed run was writing
    leftovers = [out / "pairs" / f".{first.name}.k1ll3d0a.tmp", out / ".database.db.k1ll3d0b.tmp"]
    for leftover in leftovers:
        leftover.write_bytes(b"half of a file")
    capsys.readouterr()
    assert run_cli([*_batch_argv(images, pairs, out, "colmap"), "--matcher", "sift"]) == 2
    assert "7 pairs: 1 matched, 5 already done, 1 failed" in capsys.readouterr().out
    assert not any(leftover.exists() for leftover in leftovers)
    left = sorted(path.name for path in (out / "pairs").iterdir())
    assert left == sorted(path.name for path in out.glob("pairs/*.npz"))
    with open_run(out, images) as run:
        assert len(run.pairs.matches) == 6
