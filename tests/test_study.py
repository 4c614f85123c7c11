"""``ltw-tf benchmark`` on a tiny FF++-shaped root: grid planning, training in-process, reuse and resume, cached
evaluations, a failing cell that does not stop the grid, and tables equal to the per-run evaluations."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import main
from ltw_tf.config import load_config
from ltw_tf.data.manifest import read_manifest, write_manifest
from ltw_tf.study import plan_study, settings_hash
from toy import ff_manifest

TINY = ["--backbone", "tiny", "--weights", "none", "--image-size", "16", "--batch-size", "6"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """2 methods x 1 benchmark x 2 seeds, trained once for the module: (root, runs_dir, args, first result)."""
    base = tmp_path_factory.mktemp("study")
    root = base / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    runs = base / "runs"
    args = [
        "benchmark",
        "--methods",
        "alltrain,focal",
        "--benchmarks",
        "gid-fs23",
        "--seeds",
        "0,1",
        "--data-root",
        str(root),
        *TINY,
        "--runs-dir",
        str(runs),
    ]
    result = CliRunner().invoke(main, [*args, "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    return root, runs, args, result


def _eval(run_dir):
    return json.loads((run_dir / "eval" / "gid-fs23.json").read_text())["targets"]["FaceSwap"]


def _checkpoint_mtimes(runs):
    return {
        str(p): p.stat().st_mtime_ns
        for p in runs.rglob("*")
        if p.is_file() and p.parent.name in ("checkpoints", "best")
    }


def test_grid_trains_every_cell_and_the_table_aggregates_their_evaluations(grid):
    root, runs, _, result = grid
    report = json.loads(result.stdout)
    assert [(r["method"], r["seed"], r["status"]) for r in report["runs"]] == [  # seed-major order
        ("alltrain", 0, "trained"),
        ("focal", 0, "trained"),
        ("alltrain", 1, "trained"),
        ("focal", 1, "trained"),
    ]
    assert report["failed"] == 0 and report["wall_s"] > 0
    for run in report["runs"]:
        run_dir = Path(run["run_dir"])
        saved = load_config(run_dir / "config.json")
        assert run_dir == runs / f"gid-fs23-{run['method']}-s{run['seed']}-{settings_hash(saved)}"
        assert (saved.train.method, saved.train.seed, saved.train.epochs) == (run["method"], run["seed"], 1)
        assert saved.data.data_root == str(root.resolve()) and saved.model.backbone == "tiny"
        assert len(json.loads((run_dir / "history.json").read_text())) == 1

    rows = {r["method"]: r for r in csv.DictReader((runs / "tables" / "tableall.csv").open())}
    assert report["csv"] == str(runs / "tables" / "tableall.csv")
    for method in ("alltrain", "focal"):
        evals = [_eval(Path(r["run_dir"])) for r in report["runs"] if r["method"] == method]
        for column, level, key in (
            ("ACC", "frame", "acc"),
            ("LogLoss", "frame", "logloss"),
            ("AUC", "frame", "auc"),
            ("EER", "frame", "eer"),
            ("video AUC", "video", "auc"),
        ):
            values = [e[level][key] for e in evals]
            # float64 mean / std of the same numbers read back from the CSV: only eps64 rounding of O(1) values
            # (~1e-16) and the writer's digits remain (a writer rounding to < 12 digits fails here, on purpose)
            assert float(rows[method][f"{column} mean"]) == pytest.approx(np.mean(values), abs=1e-12)
            assert float(rows[method][f"{column} std"]) == pytest.approx(np.std(values, ddof=1), abs=1e-12)
            assert rows[method][f"{column} n"] == "2"
        logloss = [e["frame"]["logloss"] for e in evals]
        cell = f"{np.mean(logloss):.3f} ± {np.std(logloss, ddof=1):.3f}"
        line = f"| tiny | {method} | gid-fs23 | FaceSwap | "
        markdown = (runs / "tables" / "tableall.md").read_text()
        assert any(row.startswith(line) and f"| {cell} |" in row for row in markdown.splitlines())
        assert [e["frame"]["n"] for e in evals] == [8, 8]  # 2 test targets x 2 frames x (real, FaceSwap)


def test_second_run_reuses_everything_and_other_settings_do_not(grid):
    root, runs, args, _ = grid
    before = _checkpoint_mtimes(runs)
    out = runs.parent / "tables3"
    again = CliRunner().invoke(main, [*args, "--epochs", "1", "--table", "3", "--out", str(out)])
    assert again.exit_code == 0, again.output
    status = [line for line in again.stderr.splitlines() if line.startswith("[")]
    assert len(status) == 4 and all(": reused, eval cached (" in line for line in status), status
    assert status[0].startswith("[1/4] alltrain gid-fs23 seed 0: reused")
    assert _checkpoint_mtimes(runs) == before  # nothing trained, nothing saved
    assert "total wall time" in again.stderr
    markdown = (out / "table3.md").read_text()
    assert markdown == again.stdout.rstrip("\n") + "\n"
    assert "| Method | GID-FS23 ACC | GID-FS23 LOSS | GID-FS23 AUC | GID-FS23 EER |" in markdown
    evals = [_eval(p) for p in sorted(runs.glob("gid-fs23-focal-s*"))]
    auc = [e["frame"]["auc"] for e in evals]
    focal = next(line for line in markdown.splitlines() if line.startswith("| FocalLoss-Basemodel |"))
    assert f"{np.mean(auc):.3f} ± {np.std(auc, ddof=1):.3f}" in focal
    assert next(csv.DictReader((out / "table3.csv").open()))["method"] == "alltrain"

    dry = CliRunner().invoke(main, [*args, "--epochs", "2", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)["runs"]
    assert [p["action"] for p in planned] == ["train"] * 4
    assert not any((runs.parent / p["run_dir"]).exists() for p in planned)  # another hash: a fresh directory
    dry = CliRunner().invoke(main, [*args, "--epochs", "1", "--dry-run"])
    assert dry.exit_code == 0 and "4 runs: 4 reusable without training, 0 to resume, 0 to train" in dry.stdout
    assert "[3/4] alltrain gid-fs23 seed 1: reuse (eval cached) -> " in dry.stdout


def test_interrupted_run_resumes_and_a_broken_cell_fails_alone(grid):
    root, runs, _, _ = grid
    interrupted = next(runs.glob("gid-fs23-alltrain-s0-*"))
    (interrupted / "history.json").unlink()  # as if stopped after the epoch's checkpoint
    faces = [f for f in read_manifest(root) if not (f.domain == "NeuralTextures" and f.split == "test")]
    write_manifest(root, faces)  # GID-NT23 trains (NT is not a source) but has no target test set
    args = [
        "benchmark",
        "--methods",
        "alltrain",
        "--benchmarks",
        "gid-fs23,gid-nt23",
        "--seeds",
        "0",
        "--data-root",
        str(root),
        *TINY,
        "--epochs",
        "1",
        "--runs-dir",
        str(runs),
    ]
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert "[1/2] alltrain gid-fs23 seed 0: resume (from epoch 1)" in dry.stdout, dry.output
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    status = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert status[0].startswith("[1/2] alltrain gid-fs23 seed 0: resumed, eval cached")
    assert status[1].startswith("[2/2] alltrain gid-nt23 seed 0: failed after")
    assert "evaluation: ValueError: target NeuralTextures" in status[1]
    assert "1 of 2 runs failed: alltrain gid-nt23 seed 0" in result.stderr
    assert len(json.loads((interrupted / "history.json").read_text())) == 1
    acc = _eval(interrupted)["frame"]["acc"]
    assert f"| tiny | alltrain | gid-fs23 | FaceSwap | {acc:.3f} | " in result.stdout
    assert "| tiny | alltrain | gid-nt23 | – | – | – | – | – | – |" in result.stdout


def test_plan_names_runs_by_settings_and_validates_names(tmp_path, monkeypatch):
    root = tmp_path / "faces"
    ff_manifest(root, n_targets=2)
    monkeypatch.setenv("LTW_DATA_ROOT", str(root))
    cells = plan_study(
        ["ltw", "mldg"], ["GID-DF23", "gid-df23"], [0, 1], overrides={"train.epochs": 3}, runs_dir=tmp_path / "runs"
    )
    assert [(c.method, c.benchmark, c.seed) for c in cells] == [
        ("ltw", "gid-df23", 0),
        ("ltw", "gid-df23", 1),
        ("mldg", "gid-df23", 0),
        ("mldg", "gid-df23", 1),
    ]
    tag = settings_hash(cells[0].config)
    assert {settings_hash(c.config) for c in cells} == {tag} and len(tag) == 8
    assert cells[1].run_dir == tmp_path / "runs" / f"gid-df23-ltw-s1-{tag}"
    assert cells[2].run_dir.name == f"gid-df23-mldg-r2-s0-{tag}"  # per-step MLDG never reuses a per-epoch run
    other = plan_study(["ltw"], ["gid-df23"], [0], overrides={"train.epochs": 4})[0]
    assert other.run_dir.name != cells[0].run_dir.name and other.run_dir.name.startswith("gid-df23-ltw-s0-")
    two = plan_study(["ltw"], ["gid-df23"], [0], backbones=["tiny", "vgg19"])
    assert [c.config.model.backbone for c in two] == ["tiny", "vgg19"] and two[0].run_dir != two[1].run_dir
    with pytest.raises(ValueError, match="unknown method 'ltw2'; valid: basemodel, alltrain"):
        plan_study(["ltw2"], ["gid-df23"], [0])
    with pytest.raises(ValueError, match="unknown benchmark 'gid-zz23'; valid: gid-df23"):
        plan_study(["ltw"], ["gid-zz23"], [0])


def test_several_tables_share_one_grid(grid):
    root, runs, args, _ = grid
    plan = CliRunner().invoke(
        main,
        [
            "benchmark",
            "--table",
            "2,5",
            "--benchmarks",
            "gid-df23",
            "--seeds",
            "0",
            "--data-root",
            str(root),
            *TINY,
            "--runs-dir",
            str(runs),
            "--dry-run",
            "--json",
        ],
    )
    assert plan.exit_code == 0, plan.output
    planned = [(p["method"], p["benchmark"]) for p in json.loads(plan.stdout)["runs"]]
    # Table 2's seven methods and Table 5's ablations on GID-DF23; Alltrain and LTW are in both, planned once
    table2 = ("basemodel", "alltrain", "focal", "forensic-transfer", "multi-task", "mldg", "ltw")
    assert planned == [(m, "gid-df23") for m in (*table2, "ltw-no-icc", "ltw-no-weight", "ltw-no-meta-test")]

    out = runs.parent / "tables-3-all"
    both = CliRunner().invoke(main, [*args, "--epochs", "1", "--table", "3,all", "--out", str(out), "--json"])
    assert both.exit_code == 0, both.output
    report = json.loads(both.stdout)
    assert all(r["status"] == "reused" for r in report["runs"]) and len(report["runs"]) == 4
    assert [t["table"] for t in report["tables"]] == ["3", "all"] and report["table"] == "3"
    assert {p.name for p in out.iterdir()} == {"table3.md", "table3.csv", "tableall.md", "tableall.csv"}
    long_rows = list(csv.DictReader((out / "tableall.csv").open()))
    assert sorted(r["method"] for r in long_rows) == ["alltrain", "focal"]

    no_methods = [a for a in args if a not in ("--methods", "alltrain,focal")]
    moved = CliRunner().invoke(main, [*no_methods, "--table", "5", "--seeds", "0", "--dry-run", "--json"])
    assert moved.exit_code == 0, moved.output  # alone, Table 5 follows --benchmarks: the ablations on another split
    ablations = ("alltrain", "ltw-no-icc", "ltw-no-weight", "ltw-no-meta-test", "ltw")
    assert [(r["method"], r["benchmark"]) for r in json.loads(moved.stdout)["runs"]] == [
        (m, "gid-fs23") for m in ablations
    ]
    for tables, text in (("3,5", "--table 5 has no column for gid-fs23"), ("2,9", "choose from 2, 3, 4, 5, 6, all")):
        bad = CliRunner().invoke(main, [*args, "--table", tables])
        assert bad.exit_code == 2 and text in bad.output, bad.output


def test_benchmark_usage_errors(tmp_path):
    runner = CliRunner()
    for args, code, text in (
        (["--methods", "ltw2", "--benchmarks", "gid-df23"], 1, "unknown method 'ltw2'; valid:"),
        (["--benchmarks", "gid-df23,gid-zz23"], 1, "unknown benchmark 'gid-zz23'; valid:"),
        (["--benchmarks", "gid-df23"], 1, "no data root"),
        (["--table", "3", "--benchmarks", "gid-df23"], 2, "--table 3 has no column for gid-df23"),
        ([], 2, "pass --benchmarks"),
        (["--benchmarks", "gid-df23", "--seeds", "0,x"], 2, "not a comma-separated list of integers"),
    ):
        result = runner.invoke(main, ["benchmark", *args, "--runs-dir", str(tmp_path)], env={"LTW_DATA_ROOT": ""})
        assert result.exit_code == code, (args, result.output)
        assert text in result.output and "Traceback" not in result.output
    assert not any(tmp_path.iterdir())
    help_text = runner.invoke(main, ["benchmark", "--help"]).output
    assert "Examples:" in help_text and "--dry-run" in help_text and "--table" in help_text


def test_study_curves_average_each_epoch_over_seeds(tmp_path, capsys):
    study_curves = _bench_module("study_curves")

    for seed, (weight, auc) in enumerate(((0.2, 0.6), (0.4, 0.8))):
        run = tmp_path / f"gid-fs23-ltw-s{seed}-abc"
        run.mkdir()
        (run / "config.json").write_text(
            json.dumps({"data": {"benchmark": "gid-fs23"}, "train": {"method": "ltw", "seed": seed}})
        )
        history = [
            {"epoch": 1, "train": {"loss": 1.0, "meta_loss": 0.5 + seed, "weight_mean": weight}, "val": {"auc": auc}}
        ]
        (run / "history.json").write_text(json.dumps(history))
    out = tmp_path / "curves.json"
    assert study_curves.main(["--runs-dir", str(tmp_path), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "**gid-fs23 ltw** (seeds [0, 1]; mean over seeds)" in text
    assert "| epoch | val AUC | loss | meta loss | weight mean |" in text
    assert "| 1 | 0.700 | 1.000 | 1.000 | 0.300 |" in text
    assert json.loads(out.read_text())[0]["epochs"]["1"]["weight mean"] == pytest.approx(0.3)
    assert study_curves.main(["--runs-dir", str(tmp_path / "none")]) == 2


def test_study_curves_plot_reads_per_step_tensorboard_scalars_and_a_resume_overrides(tmp_path):
    import tensorflow as tf

    study_curves = _bench_module("study_curves")

    def log(run, values, start=1):  # what Trainer writes: one scalar per step under train/
        writer = tf.summary.create_file_writer(str(run / "tensorboard"))
        with writer.as_default():
            for step, value in enumerate(values, start=start):
                tf.summary.scalar("train/weight_mean", value, step=step)
                tf.summary.scalar("train/meta_loss", 2 * value, step=step)
        writer.close()

    for seed in (0, 1):
        run = tmp_path / f"gid-fs23-ltw-s{seed}-abc"
        (run / "tensorboard").mkdir(parents=True)
        (run / "config.json").write_text(
            json.dumps({"data": {"benchmark": "gid-fs23"}, "train": {"method": "ltw", "seed": seed}})
        )
        (run / "history.json").write_text(json.dumps([{"epoch": 1, "train": {"weight_mean": 0.35}}]))
        log(run, [0.5, 0.4, 0.3, 0.2])
    import time

    time.sleep(1.1)  # event files are named by their creation second
    log(tmp_path / "gid-fs23-ltw-s1-abc", [0.9, 0.8], start=3)  # resumed after step 2: steps 3-4 logged again
    found = study_curves.collect_steps(tmp_path)
    runs = found[("gid-fs23", "ltw")]["weight mean"]
    assert [steps for steps, _ in runs] == [[1, 2, 3, 4], [1, 2, 3, 4]]
    np.testing.assert_allclose(runs[1][1], [0.5, 0.4, 0.9, 0.8], rtol=1e-7)  # float32 round trip
    assert "weight std" not in found[("gid-fs23", "ltw")]
    np.testing.assert_allclose(study_curves._smooth([1.0, 3.0, 5.0, 7.0], 2), [1.0, 2.0, 4.0, 6.0])
    # seeds are aligned on the steps they share, not by position (a run that lost step 2's events)
    assert study_curves.shared_steps([([1, 2, 3], [0.1, 0.2, 0.3]), ([1, 3, 4], [1.0, 3.0, 4.0])]) == (
        [1, 3],
        [[0.1, 0.3], [1.0, 3.0]],
    )
    out = tmp_path / "curves.png"
    assert study_curves.main(["--runs-dir", str(tmp_path), "--plot", str(out)]) == 0
    other = tmp_path / "gid-fs23-ltw-s0-xyz"  # a run of other settings beside them: never averaged with them
    (other / "tensorboard").mkdir(parents=True)
    (other / "config.json").write_text((tmp_path / "gid-fs23-ltw-s0-abc" / "config.json").read_text())
    log(other, [0.7])
    assert sorted(study_curves.collect_steps(tmp_path)) == [("gid-fs23 @abc", "ltw"), ("gid-fs23 @xyz", "ltw")]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty"
    (empty / "run").mkdir(parents=True)
    (empty / "run" / "config.json").write_text((tmp_path / "gid-fs23-ltw-s0-abc" / "config.json").read_text())
    (empty / "run" / "history.json").write_text(json.dumps([{"epoch": 1, "train": {"loss": 1.0}}]))
    assert study_curves.main(["--runs-dir", str(empty), "--plot", str(tmp_path / "none.png")]) == 1


def _bench_module(name):
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench" / "study"))
    return importlib.import_module(name)


def test_study_significance_scores_runs_pairs_them_on_videos_and_caches(grid, tmp_path, capsys):
    significance = _bench_module("study_significance")
    _, _, _, result = grid
    report = json.loads(result.stdout)
    runs = tmp_path / "runs"  # the grid's four runs alone (other tests add runs of other settings beside them)
    runs.mkdir()
    for run in report["runs"]:
        (runs / Path(run["run_dir"]).name).symlink_to(run["run_dir"])
    out, cache = tmp_path / "sig.json", tmp_path / "cache"
    args = [
        "--runs-dir",
        str(runs),
        "--reference",
        "alltrain",
        "--rounds",
        "200",
        "--json",
        str(out),
        "--cache",
        str(cache),
    ]
    assert significance.main([*args, "--summary", "mldg,focal"]) == 0
    rows = json.loads(out.read_text())["gid-fs23"]
    for method in ("alltrain", "focal"):
        evals = [_eval(Path(r["run_dir"]))["frame"]["auc"] for r in report["runs"] if r["method"] == method]
        assert rows[method]["seeds"] == [0, 1]
        # AUC is an exact rank count / (n_pos n_neg) in float64: equal up to eps64
        assert rows[method]["auc"] == pytest.approx(evals, abs=1e-12)  # the same scores as ltw-tf evaluate
        assert rows[method]["test_se"] >= 0
    focal = rows["focal"]
    assert focal["diff"] == pytest.approx(rows["focal"]["mean"] - rows["alltrain"]["mean"])
    assert focal["diff_seed_se"] == pytest.approx(np.sqrt((focal["std"] ** 2 + rows["alltrain"]["std"] ** 2) / 2))
    text = capsys.readouterr().out
    assert "diff" not in rows["alltrain"] and "| focal |" in text
    # the closing table: reference - method (here alltrain - focal), the paired interval negated
    low, high = focal["paired_ci95"]
    assert "| benchmark | alltrain - mldg (95 % interval) | ± | seeds | ±0.03 | alltrain - focal" in text
    assert (
        f"| gid-fs23 | – | – | – | – | {-focal['paired_diff']:+.3f} [{-high:+.3f}, {-low:+.3f}] | "
        f"{focal['paired_half_width']:.3f} | 2 | {significance.goal_cell(focal, 0.03)} |" in text
    )
    per_seed = np.subtract(focal["auc"], rows["alltrain"]["auc"])  # same seed = same init: paired
    assert focal["paired_seeds"] == [0, 1] and focal["paired_diffs"] == pytest.approx(per_seed, abs=1e-12)
    low, high = focal["paired_ci95"]
    assert low <= focal["paired_diff"] <= high and high - low == pytest.approx(2 * focal["paired_half_width"])
    assert focal["paired_seed_se"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2)  # sd/sqrt(2) of two
    plot = tmp_path / "sig.png"
    assert significance.main([*args, "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{Path(r['run_dir']).name}.npz" for r in report["runs"])
    stamps = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert significance.main(args) == 0  # second call: every run from the cache
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps
    assert json.loads(out.read_text())["gid-fs23"]["focal"]["auc"] == focal["auc"]
    assert significance.main(["--runs-dir", str(tmp_path / "none")]) == 2
    assert significance.main([*args, "--methods", "ltw"]) == 0  # the reference (alltrain) is always kept
    assert {k: sorted(v) for k, v in json.loads(out.read_text()).items() if k != "held_out_faces"} == {
        "gid-fs23": ["alltrain"]
    }
    assert significance.main([*args, "--seeds", "1"]) == 0  # a study's first seeds while it trains more
    one = json.loads(out.read_text())["gid-fs23"]
    assert {m: one[m]["seeds"] for m in one} == {"alltrain": [1], "focal": [1]}
    assert one["focal"]["auc"] == focal["auc"][1:]  # each seed's AUC from its own scores alone: bit-equal
    assert significance.main([*args, "--seeds", "7"]) == 1  # no finished run of that seed
    assert significance.main([*args, "--seeds", "0,x"]) == 2

    first = Path(report["runs"][0]["run_dir"])  # another setting's run beside them: compared apart
    (runs / f"{first.name.rsplit('-', 1)[0]}-0other00").symlink_to(first)
    groups = significance.finished_runs(runs)
    settings = first.name.rsplit("-", 1)[1]
    assert set(groups) == {"gid-fs23 @0other00", f"gid-fs23 @{settings}"}
    assert sorted(groups[f"gid-fs23 @{settings}"]["alltrain"]) == [
        (0, runs / first.name),
        (1, runs / Path(report["runs"][2]["run_dir"]).name),
    ]
    only = significance.finished_runs(runs, settings={settings})  # --settings: one setting, named as the benchmark
    assert set(only) == {"gid-fs23"} and only["gid-fs23"] == groups[f"gid-fs23 @{settings}"]
    assert significance.main([*args, "--settings", "0other00"]) == 0
    assert {k: sorted(v) for k, v in json.loads(out.read_text()).items() if k != "held_out_faces"} == {
        "gid-fs23": [first.name.split("-")[2]]
    }
    assert significance.main([*args, "--settings", "00000000"]) == 1


def test_study_significance_records_aucs_and_pools_them_when_the_runs_are_gone(grid, tmp_path, capsys):
    significance = _bench_module("study_significance")
    _, _, _, result = grid
    report = json.loads(result.stdout)
    both, later = tmp_path / "both", tmp_path / "later"  # seeds 0-1, and seed 1 alone (seed 0's machine is gone)
    for folder, seeds in ((both, (0, 1)), (later, (1,))):
        folder.mkdir()
        for run in report["runs"]:
            if run["seed"] in seeds:
                (folder / Path(run["run_dir"]).name).symlink_to(run["run_dir"])
    book, out = tmp_path / "recorded.json", tmp_path / "sig.json"
    common = ["--reference", "alltrain", "--rounds", "200", "--json", str(out)]
    assert significance.main(["--runs-dir", str(both), *common, "--record", str(book)]) == 0
    full = json.loads(out.read_text())["gid-fs23"]
    entries = json.loads(book.read_text())["runs"]
    assert [(e["method"], e["seed"]) for e in entries] == [("alltrain", 0), ("alltrain", 1), ("focal", 0), ("focal", 1)]
    assert [e["auc"] for e in entries] == full["alltrain"]["auc"] + full["focal"]["auc"]  # the same floats
    assert {e["faces"] for e in entries} == {"own test split"} and all("AVX" in e["machine"] for e in entries)
    for entry, run in zip(entries, sorted(report["runs"], key=lambda r: (r["method"], r["seed"]))):
        steps = json.loads((Path(run["run_dir"]) / "history.json").read_text())
        assert entry["steps"] == sum(e["steps"] for e in steps) > 0  # what a longer run's record is told apart by
        assert entry["best_val_auc"] == max(e["val"]["auc"] for e in steps)
    before = book.read_bytes()
    assert significance.main(["--runs-dir", str(both), *common, "--record", str(book)]) == 0  # nothing new
    assert book.read_bytes() == before

    assert significance.main(["--runs-dir", str(later), *common]) == 0
    alone = json.loads(out.read_text())["gid-fs23"]
    capsys.readouterr()
    assert significance.main(["--runs-dir", str(later), *common, "--recorded", str(book)]) == 0
    pooled = json.loads(out.read_text())["gid-fs23"]
    for method in ("alltrain", "focal"):  # seed 0 from the record: the seed spread of both seeds again
        row = pooled[method]
        assert row["seeds"] == [0, 1] and row["recorded_seeds"] == [0]
        assert row["auc"] == full[method]["auc"] and row["std"] == full[method]["std"]
        assert row["test_se"] == alone[method]["test_se"]  # test term: the scored run alone
    focal = pooled["focal"]
    assert focal["paired_diffs"] == full["focal"]["paired_diffs"]
    assert focal["paired_seed_se"] == full["focal"]["paired_seed_se"]
    assert focal["paired_test_se"] == alone["focal"]["paired_test_se"]
    assert "ʳ recorded AUC" in capsys.readouterr().out
    assert significance.main(["--runs-dir", str(later), *common, "--recorded", str(book), "--seeds", "1"]) == 0
    assert json.loads(out.read_text())["gid-fs23"]["focal"]["seeds"] == [1]  # --seeds applies to recorded seeds

    gone = tmp_path / "gone"  # every run went with its machine: the record alone, seeds without a test-set term
    gone.mkdir()
    assert significance.main(["--runs-dir", str(gone), *common]) == 1
    assert "no finished runs" in capsys.readouterr().err
    picture = tmp_path / "gone.png"
    only_record = [
        "--runs-dir",
        str(gone),
        *common,
        "--recorded",
        str(book),
        "--summary",
        "focal",
        "--plot",
        str(picture),
    ]
    assert significance.main(only_record) == 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # drawn with the seed-only intervals
    record_only = json.loads(out.read_text())["gid-fs23"]
    from scipy import stats

    for method in ("alltrain", "focal"):
        row = record_only[method]
        assert row["auc"] == full[method]["auc"] and row["recorded_seeds"] == [0, 1] and row["test_se"] is None
        half = stats.t.ppf(0.975, 1) * row["std"] / np.sqrt(2)
        assert row["ci95"] == [row["mean"] - half, row["mean"] + half]
    focal = record_only["focal"]
    assert focal["paired_diffs"] == full["focal"]["paired_diffs"] and focal["paired_test_se"] is None
    half = stats.t.ppf(0.975, 1) * focal["paired_seed_se"]
    assert focal["paired_ci95"] == [focal["paired_diff"] - half, focal["paired_diff"] + half]
    text = capsys.readouterr().out
    assert "ˢ seeds only" in text and f"{-focal['paired_diff']:+.3f} [" in text
    only = tmp_path / "only-alltrain"  # the pair shares no scored seed: its seed term alone, alltrain's test term
    only.mkdir()
    for run in later.iterdir():
        if "-alltrain-" in run.name:
            (only / run.name).symlink_to(run.resolve())
    assert significance.main(["--runs-dir", str(only), *common, "--recorded", str(book)]) == 0
    mixed = json.loads(out.read_text())["gid-fs23"]
    assert mixed["alltrain"]["test_se"] == alone["alltrain"]["test_se"] and mixed["focal"]["test_se"] is None
    assert mixed["focal"]["paired_test_se"] is None and mixed["focal"]["paired_ci95"] == focal["paired_ci95"]
    assert significance.main(["--runs-dir", str(gone), *common, "--recorded", str(book), "--methods", "x"]) == 0
    assert set(json.loads(out.read_text())["gid-fs23"]) == {"alltrain"}  # --methods applies to recorded methods

    other = json.loads(before)  # another run of seed 0 recorded: recording stops, the file untouched
    other["runs"][0]["auc"] += 0.25
    book.write_text(json.dumps(other))
    changed = book.read_bytes()
    assert significance.main(["--runs-dir", str(both), *common, "--record", str(book)]) == 2
    assert book.read_bytes() == changed and "another run of that seed" in capsys.readouterr().err
    other["runs"].append(other["runs"][1])
    book.write_text(json.dumps(other))
    assert significance.main(["--runs-dir", str(later), *common, "--recorded", str(book)]) == 2
    assert "recorded twice" in capsys.readouterr().err


def test_study_significance_eval_root_pools_every_split_of_another_build(grid, tmp_path, capsys, monkeypatch):
    import ltw_tf.evaluate

    significance = _bench_module("study_significance")
    _, _, _, result = grid
    run = Path(json.loads(result.stdout)["runs"][0]["run_dir"])
    other = tmp_path / "eval-faces"  # another build: 6 targets, 2 per split
    ff_manifest(other, n_targets=6, splits=lambda t: ("train", "val", "test")[t // 2])
    cache = tmp_path / "cache"
    cache.mkdir()
    own = significance.test_scores(run, cache)
    pooled = significance.test_scores(run, cache, eval_root=other)
    # the run's own test split: 2 of its build's 8 targets; the other build whole: 6 targets; each target a real
    # and a FaceSwap fake video of 2 frames
    assert len(own[0]) == 2 * 2 * 2 and len(pooled[0]) == 6 * 2 * 2 and len(set(pooled[2])) == 12
    assert sorted(p.name for p in cache.iterdir()) == sorted([f"{run.name}.npz", f"{run.name}@{other.name}.npz"])
    test_only = ltw_tf.evaluate.evaluate_run(run, data_root=other, split="test")["targets"]["FaceSwap"]
    assert np.array_equal(pooled[1][-len(test_only["probs"]) :], test_only["probs"])  # pooled train, val, test

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored again")

    monkeypatch.setattr(ltw_tf.evaluate, "evaluate_run", no_scoring)
    again = significance.test_scores(run, cache, eval_root=other)  # from the cache, apart from the own split's
    assert all(np.array_equal(a, b) for a, b in zip(again, pooled))
    os.utime(other / "manifest.csv", ns=(1, 1))  # the build changed: its cached scores are stale
    with pytest.raises(AssertionError, match="scored again"):
        significance.test_scores(run, cache, eval_root=other)
    assert significance.main(["--runs-dir", str(run.parent), "--eval-root", str(tmp_path)]) == 2
    assert "is not a prepared faces folder" in capsys.readouterr().err


def test_longer_runs_compares_two_lengths_on_the_same_seeds(grid, tmp_path, capsys):
    import cv2

    longer = _bench_module("longer_runs")
    _, _, args, _ = grid
    root, runs = tmp_path / "faces", tmp_path / "runs"
    faces = ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    rng = np.random.default_rng(0)  # held-out faces of noise: each run's AUC on them is its own, not the toy's 1.000
    for face in faces:
        if face.split == "test":
            cv2.imwrite(str(root / face.path), rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    args = [*args, "--data-root", str(root), "--runs-dir", str(runs), "--epochs", "1"]
    trained = CliRunner().invoke(main, [*args, "--steps-per-epoch", "4"])  # the short runs: half an epoch
    assert trained.exit_code == 0, trained.output
    common = ["--runs-dir", str(runs), "--benchmark", "gid-fs23", "--reference", "alltrain", "--methods", "focal"]
    assert longer.main([*common, "--rounds", "50"]) == 1  # one length only: nothing to compare
    assert "needs runs of alltrain, focal at two lengths (found: 4 steps)" in capsys.readouterr().err
    trained = CliRunner().invoke(main, args)  # the long runs: the whole epoch, 8 steps
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "longer.json"
    assert longer.main([*common, "--rounds", "50", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["steps"] == [4, 8]  # each run's history.json steps, summed
    assert report["line"] == 1 / np.sqrt(2)
    for n in report["steps"]:
        rows = report["lengths"][str(n)]
        assert rows["alltrain"]["seeds"] == rows["focal"]["seeds"] == [0, 1]
        diffs = np.subtract(rows["focal"]["auc"], rows["alltrain"]["auc"])
        assert rows["focal"]["paired_diffs"] == list(diffs)  # the same float64 subtraction
        sd = abs(diffs[0] - diffs[1]) / np.sqrt(2)  # stdev of two; statistics.stdev rounds once, this twice or so
        assert rows["focal"]["paired_sd"] == pytest.approx(sd, rel=0, abs=4 * np.spacing(sd))
        assert all(0.0 <= a <= 1.0 for a in rows["focal"]["best_val_auc"])
    short_sd, long_sd = (report["lengths"][str(n)]["focal"]["paired_sd"] for n in report["steps"])
    pair = report["pairs"]["focal"]
    assert pair["sd_ratio"] == long_sd / short_sd
    low, high = pair["sd_ratio_range95"]
    assert low < pair["sd_ratio"] < high  # two seeds each: F(1, 1), a range of ~1600x either way
    assert pair["verdict"] == longer.verdict(pair["sd_ratio"], low, high, report["line"])
    text = capsys.readouterr().out
    assert f"| alltrain - focal | {-report['lengths']['4']['focal']['paired_diff']:+.3f} [" in text
    assert longer.main([*common, "--seeds", "1"]) == 1  # one seed: no spread
    assert "1 seed(s) finished at both lengths" in capsys.readouterr().err

    # the short runs' machine is gone: their AUCs come from the record (study_significance --record)
    significance = _bench_module("study_significance")
    book = tmp_path / "recorded.json"
    assert significance.main(["--runs-dir", str(runs), "--reference", "alltrain", "--record", str(book)]) == 0
    assert sorted({e["steps"] for e in json.loads(book.read_text())["runs"]}) == [4, 8]
    for name, keep in (("long-only", set()), ("mixed", {("alltrain", 0), ("alltrain", 1), ("focal", 1)})):
        folder = tmp_path / name
        folder.mkdir()
        for run in runs.glob("gid-fs23-*"):
            method, seed = run.name.split("-")[2], int(run.name.split("-s")[-1].split("-")[0])
            if significance.steps_of(run) == 8 or (method, seed) in keep:
                (folder / run.name).symlink_to(run)
        capsys.readouterr()
        args = [*common, "--runs-dir", str(folder), "--rounds", "50", "--json", str(out)]
        assert longer.main(args) == 1  # without the record: one length only
        assert longer.main([*args, "--recorded", str(book)]) == 0
        pooled = json.loads(out.read_text())
        assert pooled["steps"] == [4, 8] and pooled["pairs"]["focal"]["sd_ratio"] == pair["sd_ratio"]
        short = pooled["lengths"]["4"]
        for method in ("alltrain", "focal"):  # the same floats: recorded AUCs are the scored ones
            assert short[method]["auc"] == report["lengths"]["4"][method]["auc"]
            assert short[method]["recorded_seeds"] == sorted({0, 1} - {s for m, s in keep if m == method})
        assert short["focal"]["paired_diffs"] == report["lengths"]["4"]["focal"]["paired_diffs"]
        assert pooled["lengths"]["8"] == report["lengths"]["8"]  # the long runs are all here: as before
        text = capsys.readouterr().out
        if keep:  # seed 1 scored for both methods: its test-set term, as study_significance gives it
            assert "ˢ seeds" not in text
            sig = tmp_path / "sig.json"
            sig_args = ["--runs-dir", str(folder), "--reference", "alltrain", "--rounds", "50", "--json", str(sig)]
            assert significance.main([*sig_args, "--recorded", str(book)]) == 0
            at = significance.settings_of(next(r for r in folder.iterdir() if significance.steps_of(r) == 4))
            same = json.loads(sig.read_text())[f"gid-fs23 @{at}"]["focal"]
            for key in ("paired_test_se", "paired_ci95", "recorded_seeds"):
                assert short["focal"][key] == same[key]
            assert short["focal"]["best_val_auc"][1] == report["lengths"]["4"]["focal"]["best_val_auc"][1]
        else:  # every short seed recorded: no test-set term, the seed term's t interval alone
            assert short["focal"]["paired_test_se"] is None and "ˢ seeds only" in text
            from scipy import stats

            half = stats.t.ppf(0.975, 1) * short["focal"]["paired_seed_se"]
            low, high = short["focal"]["paired_ci95"]
            mean = short["focal"]["paired_diff"]
            assert (low, high) == (mean - half, mean + half)
        assert short["focal"]["best_val_auc"] == report["lengths"]["4"]["focal"]["best_val_auc"]  # recorded too
        assert "ʳ recorded AUC" in text


def test_longer_runs_decision_rule_and_the_range_of_an_sd_ratio(tmp_path):
    longer = _bench_module("longer_runs")
    # F(4, 4)'s 97.5 % point is 9.6045 (tables, to half a unit of the last digit; a square root halves that):
    # five seeds each, a measured ratio r means 0.3227 r .. 3.0991 r
    low, high = longer.sd_ratio_range(1.0, 5, 5)
    table = 0.5 * 0.00005 / 9.6045
    assert low == pytest.approx(1 / np.sqrt(9.6045), rel=table) and high == pytest.approx(np.sqrt(9.6045), rel=table)
    half = longer.sd_ratio_range(0.5, 5, 5)  # r / sqrt(F) against 0.5 * (1 / sqrt(F)): a rounding or two apart
    assert half == pytest.approx((0.5 * low, 0.5 * high), rel=0, abs=2 * np.spacing(max(low, high)))
    line = 1 / np.sqrt(3)
    assert longer.verdict(0.3, 0.1, 0.5, line) == "longer runs"
    assert longer.verdict(1.2, 0.6, 3.0, line) == "more seeds"
    assert longer.verdict(0.5, 0.2, 1.5, line) == "longer runs (point estimate only: the range spans 0.58)"
    assert longer.verdict(0.7, 0.2, 2.0, line).startswith("more seeds (point estimate only")

    def usage(*extra):
        return longer.main(["--runs-dir", str(tmp_path), "--benchmark", "gid-nt23", *extra])

    assert usage("--seeds", "0,x") == 2 and usage("--eval-root", str(tmp_path / "none")) == 2
    assert longer.main(["--runs-dir", str(tmp_path / "none"), "--benchmark", "gid-nt23"]) == 2
    assert usage() == 1  # a folder without runs: no two lengths to compare


def test_study_significance_interval_counts_seeds_and_test_videos():
    significance = _bench_module("study_significance")
    from scipy import stats

    half, df = significance.interval(0.0, 0.01, 5)  # test-set noise alone: normal quantile
    assert np.isinf(df) and half == pytest.approx(stats.norm.ppf(0.975) * 0.01)
    half, df = significance.interval(0.01, 0.0, 5)  # seed noise alone: Student t with n - 1 df
    assert df == pytest.approx(4) and half == pytest.approx(stats.t.ppf(0.975, 4) * 0.01)
    half, df = significance.interval(0.01, 0.01, 5)  # both: wider than either, df between
    assert 4 < df < np.inf and half > stats.t.ppf(0.975, 4) * 0.01


def test_study_significance_says_how_many_seeds_would_reach_the_goal():
    significance = _bench_module("study_significance")
    from scipy import stats

    def half(sd, test_se, n):
        return significance.interval(sd / np.sqrt(n), test_se, n)[0]

    for sd, test_se in [(0.024, 0.005), (0.037, 0.005), (0.13, 0.008), (0.0, 0.005)]:
        n = significance.seeds_needed(sd, test_se, 0.03)
        assert n >= 2 and half(sd, test_se, n) <= 0.03  # enough seeds ...
        assert n == 2 or half(sd, test_se, n - 1) > 0.03  # ... and no fewer would do
    assert significance.seeds_needed(0.037, 0.005, 0.03) == 9  # t(10.8 Welch df) * 0.0133 = 0.0293
    edge = 0.03 / stats.norm.ppf(0.975)  # the test term alone as wide as the goal: no number of seeds reaches it
    assert significance.seeds_needed(0.01, edge, 0.03) is None
    assert significance.seeds_needed(0.1, 0.98 * edge, 0.03) > 1000  # just inside: reachable, by ~0.1^2 / 9e-6 seeds

    row = {"paired_seeds": [0, 1, 2], "paired_half_width": 0.08, "paired_seed_se": 0.037 / np.sqrt(3)}
    assert significance.goal_cell({**row, "paired_test_se": 0.005}, 0.03) == "~9 seeds"
    assert significance.goal_cell({**row, "paired_test_se": edge}, 0.03) == "more test videos"
    assert significance.goal_cell({**row, "paired_half_width": 0.03, "paired_test_se": 0.005}, 0.03) == "reached"
    assert significance.goal_cell({**row, "paired_seeds": [0], "paired_test_se": 0.005}, 0.03) == "–"
    one_seed = {**row, "paired_seeds": [0], "paired_half_width": 0.01, "paired_seed_se": 0.0}
    assert significance.goal_cell({**one_seed, "paired_test_se": 0.005}, 0.03) == "–"  # no seed spread measured


def test_study_significance_test_term_is_the_part_the_seeds_share():
    significance = _bench_module("study_significance")
    rng = np.random.default_rng(5)
    rounds = 2000
    shared = rng.normal(0, 0.02, rounds)  # which videos were drawn: the same for every seed
    a = shared + rng.normal(0, 0.03, (4, rounds))  # + each seed's own part
    b = 0.5 * shared + rng.normal(0, 0.01, (3, rounds))

    def rounding(*terms):  # each (co)variance is one sum of `rounds` products: relative error <= rounds * eps64
        return rounds * np.finfo(np.float64).eps * sum(abs(t) for t in terms)

    # the bootstrap variance of the 4-seed mean = c + (v - c) / 4, exactly up to rounding
    v = np.mean(np.var(a, axis=1, ddof=1))
    c = significance.shared_test_var(a)
    whole_a = np.var(a.mean(0), ddof=1)
    assert whole_a == pytest.approx(c + (v - c) / 4, rel=0, abs=rounding(whole_a, c, v))
    assert c == pytest.approx(np.var(shared, ddof=1), rel=0.2)  # the shared part, not the own 0.03^2 on top
    one = np.var(a[0], ddof=1)
    for rows in (a[:1], np.vstack([a[0]] * 3)):  # one seed: all of its variance; identical seeds: all shared
        assert significance.shared_test_var(rows) == pytest.approx(one, rel=0, abs=rounding(one, one))
    # a difference of two methods' means: its bootstrap variance less the own parts of each side
    v_b = np.mean(np.var(b, axis=1, ddof=1))
    c_b = significance.shared_test_var(b)
    whole = np.var(a.mean(0) - b.mean(0), ddof=1)
    both = significance.shared_test_var(a, b)
    expected = whole - (v - c) / 4 - (v_b - c_b) / 3
    assert both == pytest.approx(expected, rel=0, abs=rounding(both, whole, v, c, v_b, c_b))
    assert both == pytest.approx(np.var(0.5 * shared, ddof=1), rel=0.3)


def test_study_significance_bootstrap_moves_whole_videos():
    significance = _bench_module("study_significance")
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 40)
    videos = np.array([f"{label}-{i // 8}" for i, label in enumerate(labels)])  # 5 videos of 8 frames per class
    probs = np.round(rng.random(80) + 0.3 * labels, 1)  # rounded: many ties, within and across the classes
    w_real, w_fake = significance.video_resample_weights(labels, videos, 50, rng)
    for weights in (w_real, w_fake):  # a video's frames are drawn together, 5 videos per draw
        per_video = weights.reshape(50, 5, 8)
        assert (per_video == per_video[:, :, :1]).all() and (weights.sum(1) == 40).all()
    aucs = significance.weighted_auc(labels, probs, w_real, w_fake)
    # the definition: K[i, j] = 1 if fake j outranks real i, 1/2 on a tie; AUC = w_real K w_fake / (W_real W_fake).
    # Integer weights: every sum is an exact (half-)integer in float64 on both paths, so the two are bit-equal.
    real, fake = probs[labels == 0], probs[labels == 1]
    pairs = (fake[None, :] > real[:, None]) + 0.5 * (fake[None, :] == real[:, None])
    assert np.array_equal(aucs, np.einsum("ri,ij,rj->r", w_real, pairs, w_fake) / (w_real.sum(1) * w_fake.sum(1)))
    ones = np.ones((1, 40))
    assert significance.weighted_auc(labels, probs, ones, ones)[0] == pytest.approx(roc_auc_score(labels, probs))
    index = np.concatenate(
        [
            np.repeat(np.flatnonzero(labels == 0), w_real[7].astype(int)),
            np.repeat(np.flatnonzero(labels == 1), w_fake[7].astype(int)),
        ]
    )
    assert aucs[7] == pytest.approx(roc_auc_score(labels[index], probs[index]))
    assert aucs.std() > 0


def test_icc_share_measures_icc_against_bce_from_init_to_the_last_checkpoint(grid, tmp_path, capsys):
    icc_share = _bench_module("icc_share")
    _, _, _, result = grid
    run = Path(json.loads(result.stdout)["runs"][0]["run_dir"])
    out = tmp_path / "icc.json"
    assert icc_share.main([str(run), "--batches", "2", "--batch-size", "6", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())[run.name]
    assert list(rows) == ["init", "ckpt-1"]  # random init with the run's seed, then its one epoch
    for row in rows.values():
        assert row["bce"] > 0 and row["grad_bce"] > 0 and -1 <= row["cosine"] <= 1
        assert row["ratio"] == pytest.approx(row["grad_icc"] / row["grad_bce"], rel=0.5)  # mean of ratios
    assert rows["init"] != rows["ckpt-1"] and f"| {run.name} | ckpt-1 |" in capsys.readouterr().out
    assert icc_share.main([]) == 2


def test_basemodel_row_is_the_untrained_model_evaluated_like_the_others(tmp_path):
    # Paper Tables 2-4 "Basemodel": the backbone with a fresh head, no training on the source domains.
    import tensorflow as tf

    from ltw_tf.trainer import build_from_config

    root = tmp_path / "faces"
    ff_manifest(root, n_targets=8, splits=lambda t: ("val", "test")[t % 2] if t >= 4 else "train")
    args = ["benchmark", "--table", "3", "--methods", "basemodel", "--benchmarks", "gid-fs23", "--seeds", "0"]
    args += ["--data-root", str(root), *TINY, "--runs-dir", str(tmp_path / "runs"), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (run,) = report["runs"]
    assert run["status"] == "trained" and report["rows"][0]["labels"] == ["Basemodel"]
    assert report["rows"][0]["cells"]["GID-FS23 AUC"]["n"] == 1
    run_dir = Path(run["run_dir"])
    history = json.loads((run_dir / "history.json").read_text())
    assert [(h["epoch"], h["steps"], h["best"]) for h in history] == [(0, 0, True)]
    assert _eval(run_dir)["frame"]["n"] == 8
    # best/ (what the table evaluates) holds the model exactly as built from the run's seed: nothing trained
    built = build_from_config(load_config(run_dir / "config.json")).detector
    values = [v.numpy() for v in built.variables]
    tf.train.Checkpoint(detector=built).restore(
        tf.train.latest_checkpoint(run_dir / "best")
    ).assert_existing_objects_matched()
    for value, variable in zip(values, built.variables):
        np.testing.assert_array_equal(value, variable.numpy())
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and json.loads(again.stdout)["runs"][0]["status"] == "reused"


def test_recorded_five_seed_aucs_are_the_ones_results_reports():
    """bench/study/recorded_aucs.json's entries of the original study machine (the runs went with it) are the
    per-seed AUCs of docs/RESULTS.md's five-seed table, to its 3 decimals."""
    repo = Path(__file__).resolve().parents[1]
    book = json.loads((repo / "bench/study/recorded_aucs.json").read_text())["runs"]
    original = {(e["benchmark"], e["method"], e["seed"]): e["auc"] for e in book if e["scored"] == "2026-12-01"}
    text = (repo / "docs/RESULTS.md").read_text()
    table = text[text.index("Held-out frame AUC per seed (0-4) on the evaluation build") :].split("\n\n")[1]
    shown = {}
    for line in table.splitlines()[2:]:
        split, *cells = (c.strip() for c in line.strip("|").split("|"))
        for method, cell in zip(("ltw", "alltrain", "mldg"), cells):
            values = cell.split("(")[0].split()
            values = [values[0]] * int(values[2]) if values[1:2] == ["x"] else values
            shown |= {(split.lower(), method, seed): float(v) for seed, v in enumerate(values)}
    assert len(shown) == 60 and original == shown
