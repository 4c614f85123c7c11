"""Smoke tests of every bench/ and bench/study/ script at tiny size: the real code path runs and prints / writes
what its figure in docs/RESULTS.md is read from. (study_curves, study_significance and icc_share: tests/test_study.py.)

Each script's ``main(argv)`` runs in this process with a tiny backbone, 16-32 px images and made-up data; the one
that sets TensorFlow's thread pools (latency) runs in a subprocess. One trained LTW run on a toy FF++ root serves
every script that reads runs.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from toy import ff_manifest, trained_run

REPO = Path(__file__).resolve().parents[1]
TINY = ["--backbone", "tiny", "--image-size", "16"]


def _bench(name: str):
    for folder in (REPO / "bench", REPO / "bench" / "study"):  # as when run as a script (weight_modes imports
        if str(folder) not in sys.path:  # icc_share beside it)
            sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def _cpu_line(out: str) -> None:
    from ltw_tf.machine import cpu_info

    assert f"cpu: {cpu_info()['summary']}" in out


def _cpu_json(machine: dict) -> None:
    assert (
        set(machine["cpu_flags"]) >= {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"}
        or not (machine["cpu_flags"])
    )
    assert machine["cpu_summary"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch tiny LTW run (16 px) on a toy FF++ root with train / val / test targets: (run_dir, root)."""
    tmp = tmp_path_factory.mktemp("bench")
    ff_manifest(tmp / "faces", n_targets=10, splits=lambda t: "train" if t < 6 else ("val", "test")[t % 2])
    return trained_run(tmp, method="ltw", image_size=16, epochs=1)


def test_step_time(tmp_path, capsys):
    out = tmp_path / "step.json"
    args = [*TINY, "--batch-size", "4", "--steps", "2", "--warmup", "1", "--graph-optimizer", "off"]
    assert _bench("step_time").main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    _cpu_line(text)
    assert text.strip().splitlines()[-1].startswith("LTW/Alltrain")
    payload = json.loads(out.read_text())
    _cpu_json(payload["machine"])
    assert {r["method"] for r in payload["results"]} >= {"alltrain", "ltw"}


def test_latency_runs_every_backend(tmp_path):
    out = tmp_path / "latency.json"
    args = [*TINY, "--batches", "2", "--repeats", "1", "--warmup", "1", "--calibration-crops", "4"]
    args += ["--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "latency.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    _cpu_line(done.stdout)
    report = json.loads(out.read_text())
    _cpu_json(report["machine"])
    assert list(report["results"]) == ["2"]
    for by_backend in report["results"].values():
        assert set(by_backend) == set(_bench("latency").BACKENDS)  # int8 included, the figure that needs VNNI
        assert all(cell["median_ms_per_face"] > 0 for cell in by_backend.values())
    assert "tflite_int8" in done.stdout


def test_scaling(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    args = ["--method", "alltrain", *TINY, "--batch-per-device", "2", "--steps", "1", "--warmup", "0"]
    assert _bench("scaling").main([*args, "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    _cpu_json(payload["machine"])
    assert payload["results"] and payload["results"][0]["devices"] == 1 and payload["results"][0]["median_step_s"] > 0


def test_screen(tmp_path, capsys):
    screen = _bench("screen")
    clip = screen.build_clip(tmp_path / "clip.mp4", seconds=1, fps=10, width=240, height=160)
    out = tmp_path / "screen.json"
    args = ["--clip", str(clip), *TINY, "--runner", "keras", "--repeats", "1", "--frames", "2", "--no-all-baseline"]
    screen.main([*args, "--json", str(out)])
    text = capsys.readouterr().out
    _cpu_line(text)
    payload = json.loads(out.read_text())
    _cpu_json(payload["machine"])
    assert "screen 2 frames end to end" in payload["stages"] and "one clip at 2 frames" in text
    assert payload["stages"]["screen 2 frames end to end"]["ood_check"] == "on"  # the score is part of the timing


def test_screen_memory(tmp_path, capsys):
    screen, memory = _bench("screen"), _bench("screen_memory")
    clip = screen.build_clip(tmp_path / "clip.mp4", seconds=1, fps=10, width=240, height=160)
    out = tmp_path / "memory.json"
    memory.main(["--clip", str(clip), "--minutes", "0.05", *TINY, "--runner", "keras", "--json", str(out)])
    text = capsys.readouterr().out
    _cpu_line(text)
    payload = json.loads(out.read_text())
    assert payload["frames"] == 75 and payload["rss_max_mb"] > 0 and "growth from 25 %" in text


def test_data_throughput(tmp_path, capsys):
    out = tmp_path / "data.json"
    args = ["--videos", "2", "--video-frames", "4", "--width", "160", "--height", "120", "--frames", "2"]
    _bench("data_throughput").main([*args, "--size", "32", "--workers", "1", "--json", str(out)])
    payload = json.loads(out.read_text())
    _cpu_json(payload["machine"])
    assert [r["workers"] for r in payload["runs"]] == [1] and payload["runs"][0]["faces_per_second"] > 0
    assert "faces/s: workers=1" in capsys.readouterr().out


def test_scale(tmp_path, capsys, monkeypatch):
    """Local and Ray side by side on a one-node Ray cluster (127.0.0.1), every run a fresh process; the stage
    split; on two videos the kept rate may be noise, which the script must say rather than divide by it."""
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the script sets it for its cluster: undone after
    out = tmp_path / "scale.json"
    args = ["--videos", "2", "--small", "1", "--video-frames", "4", "--width", "160", "--height", "120"]
    args += ["--frames", "2", "--size", "32", "--workers", "1", "--repeats", "1", "--nodes", "1"]
    _bench("scale").main([*args, "--no-screen", "--no-dfdc", "--json", str(out)])
    payload = json.loads(out.read_text())
    _cpu_json(payload["machine"])
    rows = {(r["engine"], r["workers"]): r for r in payload["rows"]}
    assert set(rows) == {("local", 1), ("ray", 1)}
    assert all((r["faces"], r["faces_small"]) == (4, 2) for r in rows.values())  # the same faces either way
    assert payload["stages"]["bench video"]["faces"] == 2 and payload["stages"]["bench video"]["mtcnn"] > 0
    printed = capsys.readouterr().out
    _cpu_line(printed)
    assert "Ray overhead at equal workers" in printed


def test_domain_gap(run, tmp_path, capsys):
    out = tmp_path / "gap.json"
    args = ["--data-root", str(run[1]), *TINY, "--epochs", "1", "--batch-size", "6", "--steps-per-epoch", "1"]
    code = _bench("domain_gap").main(
        [*args, "--splits", "gid-fs23", "--runs-dir", str(tmp_path / "runs"), "--json", str(out)]
    )
    assert code == 0
    assert "| split | held-out family |" in capsys.readouterr().out
    assert json.loads(out.read_text())


def test_int8_selection(run, capsys, monkeypatch):
    monkeypatch.setattr("export.tflite.FLOAT_PREFIX_STEPS", (0.5,))  # one prefix step instead of five: seconds
    rows = _bench("int8_selection").main([str(run[0]), "--calibration", str(run[1])])
    text = capsys.readouterr().out
    _cpu_line(text.split(" (int8")[0] + "\n")
    assert [r["candidate"] for r in rows] == ["plain", "prefix 50%"]
    assert all(-1 <= r["val_delta"] <= 1 and r["float_ops"] < r["ops"] for r in rows)
    assert "prefix 50%" in text


def test_fp16_rounding(run, capsys):
    reports = _bench("fp16_rounding").main([str(run[0])])
    assert len(reports) == 1
    assert capsys.readouterr().out.strip()


def test_meta_signal_measures_the_meta_test_term_from_init_to_the_checkpoint(run, tmp_path, capsys):
    out = tmp_path / "meta.json"
    assert _bench("meta_signal").main([str(run[0]), "--steps", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())[run[0].name]
    assert list(rows) == ["init", "ckpt-1"]  # the run's seeded initial state, then its one epoch
    for row in rows.values():
        assert row["meta_loss"] > 0 and row["grad_train"] > 0 and -1 <= row["cosine"] <= 1
        # G_w = dM/dw is the second-order signal: exactly 0 with the public code's first-order bug
        assert row["grad_meta"] > 0 and row["grad_w"] > 0 and 0 < row["weight_mean"] < 1
        assert row["ratio"] == row["grad_meta"] / row["grad_train"]  # the ratio of the means
    assert rows["init"] != rows["ckpt-1"] and f"| {run[0].name} | ckpt-1 |" in capsys.readouterr().out
    assert _bench("meta_signal").main([]) == 2


def test_meta_signal_splits_the_step_gradient_exactly_and_never_reuses_trained_batches(run):
    # g(beta) = dT/dtheta + beta dM/dtheta when every call draws the same dropout masks: then
    # g(2) - g(1) = g(1) - g(0) = dM/dtheta up to float32 rounding (each g is one rounded sum, <= 1/2 ulp, and
    # the difference of differences adds at most 1/2 + 1 + 1/2 ulp of the largest); different masks per call
    # would change T itself and miss by orders of magnitude more.
    import numpy as np

    from ltw_tf.config import load_config
    from ltw_tf.methods.ltw import meta_step
    from ltw_tf.run import run_inputs

    meta_signal = _bench("meta_signal")
    config = load_config(run[0] / "config.json")
    source = run_inputs(config).train
    states = meta_signal.states(run[0], config)
    name, method, epoch = next(states)
    assert (name, epoch) == ("init", 0)
    (pair,) = meta_signal.run_pairs(method, source, epoch, 1)
    train = config.train
    grads = []
    for beta in (0.0, 1.0, 2.0):
        g, *_ = meta_step(method.detector, method.weight_net, *pair, alpha=train.alpha, beta=beta, lam=method.lam)
        grads.append(np.concatenate([x.numpy().ravel() for x in g]).astype(np.float64))
    g0, g1, g2 = grads
    assert np.abs(g1 - g0).max() > 0  # the meta-test term is there
    scale = np.spacing(np.maximum(np.abs(g2), np.abs(g1)).astype(np.float32)).astype(np.float64)
    assert (np.abs((g2 - g1) - (g1 - g0)) <= 2 * scale).all()
    # the checkpoint after epoch N is measured on epoch N's batches (0-based), which it has not trained on
    assert [(name, epoch) for name, _, epoch in states] == [("ckpt-1", 1)]


def test_weight_modes(run, capsys):
    assert _bench("weight_modes").main([str(run[0]), "--faces", "12", "--batch-size", "6"]) == 0
    text = capsys.readouterr().out
    assert "rank correlation" in text


def test_meta_splits_lists_the_seeded_meta_test_domain_of_each_epoch(run, tmp_path, capsys):
    import shutil

    from ltw_tf.benchmarks import get_benchmark
    from ltw_tf.data.meta_split import meta_split
    from ltw_tf.evaluate import evaluate_run, json_ready
    from ltw_tf.io import write_json

    runs = tmp_path / "runs"
    copy = shutil.copytree(run[0], runs / run[0].name)
    assert _bench("meta_splits").main(["--runs-dir", str(runs)]) == 1  # not evaluated yet: not finished
    write_json(copy / "eval" / "gid-fs23.json", json_ready(evaluate_run(copy, which="best")))  # as the study does
    config = json.loads((copy / "config.json").read_text())
    sources, seed = list(get_benchmark("gid-fs23").sources), config["train"]["seed"]
    significance = tmp_path / "sig.json"  # the shape bench/study/study_significance.py --json writes
    aucs = {"ltw": {"seeds": [seed], "auc": [0.75]}, "alltrain": {"seeds": [seed], "auc": [0.5]}}
    write_json(significance, {"held_out_faces": "own", "gid-fs23": aucs})
    out = tmp_path / "splits.json"
    args = ["--runs-dir", str(runs), "--significance", str(significance), "--json", str(out)]
    assert _bench("meta_splits").main(args) == 0
    (row,) = json.loads(out.read_text())["gid-fs23"]
    # what training drew is the seeded split of the benchmark's sources for each (0-based) epoch
    assert row["meta_domains"] == [meta_split(sources, seed, epoch)[1] for epoch in range(1)]
    assert row["auc"] == 0.75 and row["diff"] == 0.25 and f"| ltw | {seed} |" in capsys.readouterr().out

    # the counting, on a three-epoch history: meta-test families, coverage, the last epoch flagged best
    (epoch,) = json.loads((copy / "history.json").read_text())
    a, b, c = sorted(sources)
    histories = {"all": ([a, c, b], [True, False, True]), "some": ([a, a, b], [False, True, False])}
    other = shutil.copytree(copy, runs / f"{copy.name.rsplit('-', 1)[0]}-0other00")  # another setting: apart
    for folder, (metas, best) in zip((copy, other), histories.values()):
        records = [
            {**epoch, "epoch": k + 1, "best": flag, "data": {**epoch["data"], "meta_domains": [m]}}
            for k, (m, flag) in enumerate(zip(metas, best))
        ]
        write_json(folder / "history.json", records)
    assert _bench("meta_splits").main(args) == 0
    groups = json.loads(out.read_text())
    mine, theirs = groups[f"gid-fs23 @{copy.name.rsplit('-', 1)[1]}"], groups["gid-fs23 @0other00"]
    assert mine[0]["epochs_as_meta"] == {a: 1, b: 1, c: 1} and mine[0]["covers_all"] and mine[0]["best_epoch"] == 3
    assert theirs[0]["epochs_as_meta"] == {a: 2, b: 1, c: 0} and not theirs[0]["covers_all"]
    assert theirs[0]["best_epoch"] == 2 and mine[0]["auc"] is None  # the significance file is keyed "gid-fs23"
    assert "holds none of these runs" in capsys.readouterr().err
    assert _bench("meta_splits").main([*args, "--settings", copy.name.rsplit("-", 1)[1]]) == 0  # one setting alone:
    (row,) = json.loads(out.read_text())["gid-fs23"]  # named as the benchmark, so the significance file's AUC match
    assert row["auc"] == 0.75 and row["epochs_as_meta"] == {a: 1, b: 1, c: 1}
    write_json(significance, [1, 2])
    assert _bench("meta_splits").main(args) == 2  # not a study_significance file
    assert _bench("meta_splits").main([*args[:2], "--significance", str(tmp_path / "missing.json")]) == 2


def test_reproducibility_repeats_a_run_in_fresh_processes_and_reads_its_per_step_losses(tmp_path, capsys):
    root = tmp_path / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    out = tmp_path / "repro.json"
    args = ["--data-root", str(root), "--benchmark", "gid-fs23", *TINY, "--weights", "none", "--batch-size", "6"]
    args += ["--steps", "3", "--repeats", "2", "--deterministic", "--in-process", "3"]
    assert _bench("reproducibility").main([*args, "--out", str(tmp_path / "runs"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    _cpu_json({"cpu_flags": result["cpu"]["flags"], "cpu_summary": result["cpu"]["summary"]})
    assert [m["mode"] for m in result["modes"]] == ["default", "deterministic"]
    for mode in result["modes"]:
        assert 1 <= mode["trajectories"] <= 2 and mode["runs"][0]["leaves_first_at"] is None
        for run in mode["runs"]:
            assert len(run["loss"]) == 3  # one scalar per step, from TensorBoard
            config = json.loads((Path(run["run"]) / "config.json").read_text())
            assert config["train"]["deterministic"] is (mode["mode"] == "deterministic")
            # the history's epoch loss is the trainer's float64 running sum of the same float32 step losses / steps
            total = 0.0
            for loss in run["loss"]:
                total += loss
            assert run["history_mean"] == total / len(run["loss"])
    same = result["in_process"]
    assert same["repeats"] == 3 and 1 <= same["bit_equal_to_first"] <= 3
    text = capsys.readouterr().out
    assert "distinct loss trajectories in 2 runs of 3 steps" in text and "in process: " in text
    assert _bench("reproducibility").main([*args, "--repeats", "1", "--out", str(tmp_path / "x")]) == 2
