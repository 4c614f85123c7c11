"""tf.distribute: a mirrored LTW step equals the single-device step; two workers train, the chief saves, resume.

Both tests run TensorFlow in subprocesses (logical devices and collective ops are fixed at TF start-up), each
bounded by a timeout and killed on failure.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from distribute_worker import model_variables, run_config
from margins import assert_close, assert_within, ulps

from ltw_tf.data.source import FixedEpochs
from ltw_tf.trainer import Trainer, build_from_config

HERE = Path(__file__).parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")

# Tolerance of the mirrored step against the single-device step: float32 summation order. The mirrored step
# sums every statistic (BN moments, ICC centre and counts, losses, gradients) as two partial sums instead of
# one; nothing else differs (global BN / ICC, see docs/DISTRIBUTED.md). How far a float32 result sits from the
# exact one depends on the CPU's SIMD width and on oneDNN's kernels (other blockings, other summation orders), so
# no fixed number is used: the test measures the single-device float32 step's error against a float64 run of the
# same step (~2e-7 on gradients up to ~0.35 here: ~7 ulps of the largest gradient). Two float32 results that
# differ only in summation order are each that far from the exact value, so they differ by at most about twice
# that; GRAD_FACTOR = 4 leaves a 2x margin on top while staying at float32 noise (a per-replica BN / ICC step
# misses it by orders of magnitude, also checked).
GRAD_FACTOR = 4


def _groups(data) -> dict[str, list[np.ndarray]]:
    """npz keys ``group/index`` -> {group: [arrays in index order]}."""
    groups: dict[str, list] = {}
    for key in sorted(data.files):
        groups.setdefault(key.rpartition("/")[0], []).append(data[key])
    return groups


def _adam_first_step_bound(grad: np.ndarray, lr: float, eps: float, beta_2: float, delta: float) -> np.ndarray:
    """Largest change of Adam's first update ``lr g / (|g| + eps / sqrt(1 - beta_2))`` when g moves by delta.

    The update saturates at +-lr, so an entry whose gradient is within rounding noise of 0 may legitimately
    move by up to 2 lr; entries with a clear gradient must agree to far below lr.
    """
    e = eps / np.sqrt(1.0 - beta_2)
    return np.minimum(2 * lr, lr * delta * e / (np.maximum(np.abs(grad) - delta, 0.0) + e) ** 2)


def test_mirrored_ltw_step_equals_single_device_step_on_the_global_batch(tmp_path):
    out = tmp_path / "step.npz"
    done = subprocess.run(
        [sys.executable, str(HERE / "distribute_step.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    raw = np.load(out)
    d = _groups(raw)
    single, mirrored, exact = d["grad/single"], d["grad/mirrored"], d["grad/float64"]
    per_replica = d["grad/per_replica"]
    assert len(single) == len(mirrored) == len(exact) > 20  # detector and weight-net parameters
    float32_error = max(np.abs(s - e).max() for s, e in zip(single, exact))  # measured on this CPU's kernels
    grad_atol = GRAD_FACTOR * float32_error
    for i, (m, s) in enumerate(zip(mirrored, single)):
        assert_close(f"gradient {i}", m, s, atol=grad_atol)
    # the mirrored float32 step is as close to the float64 one as the single-device float32 step, within 2x
    assert_within("mirrored vs float64", max(np.abs(m - e).max() for m, e in zip(mirrored, exact)), 2 * float32_error)
    assert max(np.abs(p - s).max() for p, s in zip(per_replica, single)) > 100 * grad_atol  # choice matters

    lr, eps, beta_2 = d["adam"]
    for i, (after_m, after_s, before, g) in enumerate(
        zip(d["trainable/mirrored"], d["trainable/single"], d["trainable/before"], single)
    ):
        assert not np.array_equal(after_s, before)
        # w - u rounded to float32 on each side: updates that differ by less than the Adam bound give weights
        # that differ by at most that plus one ulp of the weights (two half-ulp roundings; the larger magnitude's
        # spacing covers a binade edge), plus the float32 rounding of u itself (< 8 operations of relative error
        # eps each, |u| <= lr, on each side). One ulp at 1.0 is 1.19e-7: a fixed 1e-7 failed on AVX-512 CPUs.
        rounding = ulps(after_m, after_s) + 2 * 8 * np.finfo(np.float32).eps * lr
        bound = _adam_first_step_bound(g, lr, eps, beta_2, grad_atol) + rounding
        assert_within(f"variable {i}", np.abs(after_m - after_s), bound)
    for i, (m, s) in enumerate(zip(d["state/mirrored"], d["state/single"])):  # BN moving stats, RNG seeds
        # moving = momentum * moving + (1 - momentum) * batch moment: the moment's summation-order error (a few
        # float32 ulps of the moment, scaled by 1 - momentum) plus the final rounding. rtol 1e-6 is 8.4 float32
        # ulps of the value, atol 1e-7 covers entries near 0 (the moments are O(1), so their error is O(1e-7)).
        assert_close(f"state {i}", m, s, rtol=1e-6, atol=1e-7)
    for r0, r1 in zip(d["replica/0"], d["replica/1"]):  # synchronized BN keeps the mirrors identical
        np.testing.assert_array_equal(r0, r1)
    for key in ("loss", "train_loss", "meta_loss", "weight_mean", "weight_std"):  # O(1) means of float32 terms
        # rtol 1e-6 = 8.4 float32 ulps: a sum over 7 samples in another order moves by a few ulps at most
        assert_close(key, raw[f"log/mirrored/{key}"], raw[f"log/single/{key}"], rtol=1e-6)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


MW_METHOD, MW_EPOCHS = "mldg", 2  # second order through collectives; LTW's extra terms are checked above


@pytest.mark.timeout(420)
def test_two_workers_train_chief_checkpoint_restores_to_the_other_workers_weights(tmp_path):
    run_dir = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    procs = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"  # the worker's own temp dir: its scratch checkpoints must be gone
        scratch.mkdir()
        env = dict(
            ENV,
            TMPDIR=str(scratch),
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "distribute_worker.py"),
                    str(run_dir),
                    str(tmp_path / f"worker{index}.npz"),
                    MW_METHOD,
                    str(MW_EPOCHS),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + 360
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for index, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"worker {index}:\n{output[-3000:]}"

    assert sorted(os.listdir(run_dir)) == ["checkpoints", "config.json", "history.json", "tensorboard"]
    assert [os.listdir(tmp_path / f"tmp{i}") for i in range(2)] == [[], []]
    history = json.loads((run_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    chief, worker = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    trained = sorted(k for k in chief.files if k.startswith("trained/"))
    assert len(trained) > 10
    for key in trained:
        np.testing.assert_array_equal(chief[key], worker[key], err_msg=key)  # the replicas never diverged
        np.testing.assert_array_equal(worker[key.replace("trained/", "resumed/")], worker[key], err_msg=key)

    config = run_config(MW_METHOD, MW_EPOCHS, strategy="default")
    method = build_from_config(config)  # fresh weights, then the chief's checkpoint, in this process
    assert Trainer(method, FixedEpochs([]), run_dir, config, progress=False).restore()
    restored = model_variables(method)
    assert len(restored) == len(trained)
    for key, value in zip(trained, restored):
        np.testing.assert_array_equal(value, worker[key], err_msg=key)


def test_cli_strategy_flag(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli.main import main
    from toy import ff_manifest

    root = tmp_path / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: "val" if t >= 6 else "train")
    args = [
        "--quiet",
        "train",
        "gid-fs23",
        "--data-root",
        str(root),
        "--method",
        "alltrain",
        "--backbone",
        "tiny",
        "--weights",
        "none",
        "--image-size",
        "16",
        "--batch-size",
        "6",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--json",
        "--out",
        str(tmp_path / "run"),
        "--strategy",
    ]
    runner = CliRunner()
    result = runner.invoke(main, [*args, "mirrored"])  # one CPU device here: a one-replica mirrored run
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["checkpoint"].endswith("ckpt-1")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["strategy"] == "mirrored"
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for strategy, text in (
        ("bogus", "unknown strategy 'bogus'; valid: default, mirrored, multiworker"),
        ("multiworker", "--strategy multiworker needs $TF_CONFIG"),
    ):
        result = runner.invoke(main, [*args, strategy])
        assert result.exit_code == 1 and text in result.output, result.output
