"""One process per output folder (ltw_tf.locking): two real ``ltw-tf train`` into one --out, two ``benchmark`` over
one --runs-dir; the loser exits 1 naming the holder, and a SIGKILLed holder leaves no stale lock."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ltw_tf.locking import LOCK_NAME, OutputBusy, OutputLock
from toy import ff_manifest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--backbone", "tiny", "--weights", "none", "--image-size", "16", "--batch-size", "6", "--steps-per-epoch", "1"]
LONG = "1000"  # epochs: the holder is still training when it is killed (it never gets near the end)


def _env(onednn: str) -> dict:
    """The environment a user's shell gives: no TF_CPP_MIN_LOG_LEVEL (the stderr read is what ltw-tf prints)."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def _ltw(*args, onednn: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--quiet", *args],
        cwd=REPO,
        env=_env(onednn),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoints(run_dir: Path) -> list[int]:
    return sorted(int(p.name[5:-6]) for p in (run_dir / "checkpoints").glob("ckpt-*.index"))


def _holder_pid(folder: Path) -> int | None:
    try:
        return json.loads((folder / LOCK_NAME).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _kill(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _busy_line(stderr: str, command: str, pid: int) -> bool:
    lines = stderr.strip().splitlines()
    pattern = rf"is in use by {command} \(PID {pid} on {re.escape(socket.gethostname())}, since \d{{4}}-\d\d-\d\dT"
    return len(lines) == 1 and re.search(pattern, lines[0]) is not None


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    faces = tmp_path_factory.mktemp("locking") / "faces"
    ff_manifest(faces, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    return faces


def _hold(folder: Path, command: str) -> subprocess.Popen:
    """A helper process holding ``folder``'s lock until killed (makes the race deterministic)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from ltw_tf.locking import OutputLock; OutputLock({str(folder)!r}, {command!r})"
         ".acquire(); print('held', flush=True); import time; time.sleep(600)"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    folder = tmp_path / "out"
    holder = _hold(folder, "export")
    try:
        with pytest.raises(OutputBusy, match=rf"in use by export \(PID {holder.pid} on .+, since 20"):
            OutputLock(folder, "train").acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert _holder_pid(folder) == holder.pid  # the killed holder's record is still there: no lock with it
        with OutputLock(folder, "train"):
            assert _holder_pid(folder) == os.getpid()
        assert not (folder / LOCK_NAME).exists() and folder.is_dir()  # the folder was not ours to remove
    finally:
        _kill(holder)
    fresh = tmp_path / "fresh" / "out"
    with OutputLock(fresh, "prepare"):
        assert fresh.is_dir()
    assert not fresh.exists()  # created only for the lock: gone with it
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputBusy, match="is not a folder"):
        OutputLock(tmp_path / "file", "export").acquire()


def test_two_train_processes_one_out_then_resume_after_sigkill(root, tmp_path, onednn):
    out = tmp_path / "run"
    args = ["train", "gid-fs23", "--data-root", str(root), "--method", "alltrain", *TINY, "--out", str(out)]
    procs = [_ltw(*args, "--epochs", LONG, onednn=onednn) for _ in range(2)]  # started together, as in the issue
    try:
        loser = _wait(lambda: next((p for p in procs if p.poll() is not None), None), 240, "one process to exit")
        winner = procs[1 - procs.index(loser)]
        _, stderr = loser.communicate()
        assert loser.returncode == 1, stderr
        assert _busy_line(stderr, "train", winner.pid), stderr
        assert winner.poll() is None
        done = _wait(lambda: _checkpoints(out), 120, "the winner's first checkpoint")
        winner.send_signal(signal.SIGKILL)
        winner.communicate()
        assert _holder_pid(out) == winner.pid  # a stale lock file, but no lock
        epochs = str(max(_checkpoints(out) or done) + 1)
        resumed = subprocess.run(
            [sys.executable, "-m", "cli.main", "--quiet", "train", *args[1:], "--epochs", epochs, "--resume", "--json"],
            cwd=REPO,
            env=_env(onednn),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        _kill(*procs)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["epochs"] == int(epochs)
    assert not (out / LOCK_NAME).exists()  # released on exit


def test_two_benchmark_processes_one_runs_dir(root, tmp_path, onednn):
    runs = tmp_path / "runs"
    grid = ["benchmark", "--methods", "alltrain", "--benchmarks", "gid-fs23", "--seeds", "0", "--data-root", str(root)]
    grid += [*TINY, "--runs-dir", str(runs)]
    holder = _ltw(*grid, "--epochs", LONG, onednn=onednn)
    try:
        _wait(lambda: _holder_pid(runs) == holder.pid or holder.poll() is not None, 240, "the first study's lock")
        assert holder.poll() is None, holder.communicate()
        second = _ltw(*grid, "--epochs", "1", onednn=onednn)  # another grid, same folder: refused at once
        _, stderr = second.communicate(timeout=240)
        assert second.returncode == 1 and _busy_line(stderr, "benchmark", holder.pid), stderr
        assert len([p for p in runs.iterdir() if p.is_dir()]) <= 1  # the holder's run only: the second made none
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
        again = _ltw(*grid, "--epochs", "1", "--json", onednn=onednn)  # takes the lock at once and runs
        stdout, stderr = again.communicate(timeout=240)
    finally:
        _kill(holder)
    assert again.returncode == 0, stderr
    assert not (runs / LOCK_NAME).exists()


def test_prepare_and_export_refuse_a_held_folder(root, tmp_path):
    from click.testing import CliRunner

    from cli.main import main
    from ltw_tf.data.manifest import read_manifest
    from ltw_tf.data.prepare import prepare
    from toy import trained_run

    run_dir, _ = trained_run(tmp_path, image_size=16)
    faces, bundle = tmp_path / "faces-out", tmp_path / "bundle"
    holders = [_hold(faces, "prepare"), _hold(bundle, "export")]
    try:
        with pytest.raises(OutputBusy, match=rf"in use by prepare \(PID {holders[0].pid} "):
            prepare([], faces)
        result = CliRunner().invoke(main, ["export", str(run_dir), "--tflite", "--out", str(bundle)])
        assert result.exit_code == 1 and f"in use by export (PID {holders[1].pid} " in result.output, result.output
        assert sorted(p.name for p in bundle.iterdir()) == [LOCK_NAME]  # nothing written beside the holder's lock
        for holder in holders:
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=30)
        prepare([], faces)  # at once after the holder died
        assert read_manifest(faces) == [] and not (faces / LOCK_NAME).exists()
    finally:
        _kill(*holders)
