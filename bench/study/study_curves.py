"""Training curves of a study's runs: per benchmark x method x epoch, the mean over seeds of the logged values.

What the study issue asks for when LTW does not win: how the weight net's weights (mean and spread over a batch)
and the meta-test loss moved over training, next to the meta-train loss and the validation AUC. Its tables read the
``history.json`` and ``config.json`` every run directory keeps (no TensorFlow), so it also works on a study that
is still running: the trainer writes ``history.json`` when a run ends, so the tables show finished runs, while
``--plot`` reads the per-step TensorBoard logs and also shows the steps of a run in progress.

``--plot PNG`` draws the per-step curves (weight mean, weight spread, meta-test loss, meta-train loss) from the
runs' TensorBoard event files: one column per benchmark, per method the mean over seeds (smoothed over
``--smooth`` steps) with the seeds' range as a band. A resumed run logged the replayed steps twice; the later
file's value wins.

Run (from the repo root):
    python bench/study/study_curves.py --runs-dir /work/data/runs/study
    python bench/study/study_curves.py --runs-dir runs --methods ltw,mldg --json curves.json
    python bench/study/study_curves.py --runs-dir runs --methods ltw,ltw-no-icc --plot docs/img/curves.png
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from study_significance import settings_groups, settings_of  # bench/, beside this script

COLUMNS = (
    ("val AUC", ("val", "auc")),
    ("train loss", ("train", "train_loss")),
    ("loss", ("train", "loss")),
    ("meta loss", ("train", "meta_loss")),
    ("weight mean", ("train", "weight_mean")),
    ("weight std", ("train", "weight_std")),
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, help="a study's --runs-dir (RUNS/<bench>-<method>-s<seed>-<hash>)")
    parser.add_argument("--methods", help="comma-separated methods to show (default: all found)")
    parser.add_argument("--json", default="", help="also write the curves as JSON to this path")
    parser.add_argument("--plot", default="", help="also draw the per-step curves (TensorBoard logs) to this PNG")
    parser.add_argument("--smooth", type=int, default=10, help="--plot: moving average over this many steps")
    return parser.parse_args(argv)


def _value(record: dict, path: tuple[str, str]) -> float | None:
    section, key = path
    value = record.get(section, {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def collect(runs_dir: Path, methods: set[str] | None = None) -> dict:
    """``{(benchmark, method): {epoch: {column: [values over seeds]}}}`` plus the seeds seen per cell."""
    curves: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    seeds: dict = defaultdict(set)
    for history_path in sorted(runs_dir.glob("*/history.json")):
        config = json.loads((history_path.parent / "config.json").read_text())
        benchmark, method = config["data"]["benchmark"], config["train"]["method"]
        if methods and method not in methods:
            continue
        seeds[(benchmark, method)].add(config["train"]["seed"])
        for record in json.loads(history_path.read_text()):
            for name, path in COLUMNS:
                value = _value(record, path)
                if value is not None:
                    curves[(benchmark, method)][record["epoch"]][name].append(value)
    return {"curves": curves, "seeds": seeds}


STEP_TAGS = (
    ("weight mean", "train/weight_mean"),
    ("weight std", "train/weight_std"),
    ("meta-test loss", "train/meta_loss"),
    ("meta-train loss", "train/train_loss"),
)


def _event_file_order(path: Path) -> tuple[int, str]:
    """``events.out.tfevents.<unix seconds>.<host>...``: by creation time, then name."""
    stamp = path.name.split(".")[3]
    return (int(stamp) if stamp.isdigit() else 0, path.name)


def step_scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` from a run's TensorBoard event files, oldest file first (a resumed run's replayed
    steps take the later value)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    tags: dict[str, dict[int, float]] = defaultdict(dict)
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*"), key=_event_file_order):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("tensor"):
                    tags[value.tag][int(event.step)] = float(tensor_util.make_ndarray(value.tensor))
                elif value.HasField("simple_value"):
                    tags[value.tag][int(event.step)] = float(value.simple_value)
    return tags


def collect_steps(runs_dir: Path, methods: set[str] | None = None) -> dict:
    """``{(benchmark, method): {name: [per-seed (steps, values)]}}`` for the ``STEP_TAGS`` a run logged.

    The benchmark reads "benchmark @hash" when the folder holds runs of several settings for it (run folders end
    in ``-<settings hash>``), so curves of different settings are never averaged together."""
    by_hash: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for config_path in sorted(runs_dir.glob("*/config.json")):
        config = json.loads(config_path.read_text())
        benchmark, method = config["data"]["benchmark"], config["train"]["method"]
        if methods and method not in methods:
            continue
        settings = settings_of(config_path.parent)
        scalars = step_scalars(config_path.parent)
        for name, tag in STEP_TAGS:
            if scalars.get(tag):
                steps = sorted(scalars[tag])
                by_hash[benchmark][settings][(method, name)].append((steps, [scalars[tag][s] for s in steps]))
    found: dict = defaultdict(lambda: defaultdict(list))
    for label, runs in settings_groups(by_hash).items():
        for (method, name), curves in runs.items():
            found[(label, method)][name] = curves
    return found


def shared_steps(runs: list) -> tuple[list[int], list[list[float]]]:
    """The steps every run logged (an unfinished or gappy run: the others are cut to match) and each run's values
    at them, so seeds are averaged step by step, never index by index."""
    common = sorted(set.intersection(*(set(steps) for steps, _ in runs)))
    return common, [[dict(zip(steps, values))[s] for s in common] for steps, values in runs]


def _smooth(values, window: int):
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)  # the first steps: the mean so far
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_steps(found: dict, path: str, window: int = 10) -> None:
    """Rows: ``STEP_TAGS``; columns: benchmarks; per method the seeds' mean (line) and range (band)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ltw_tf.io import atomic_write_bytes

    benchmarks = sorted({b for b, _ in found})
    methods = sorted({m for _, m in found})
    rows = [name for name, _ in STEP_TAGS if any(name in found[key] for key in found)]
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(
        len(rows), len(benchmarks), figsize=(3.3 * len(benchmarks) + 0.6, 2.2 * len(rows) + 0.6), squeeze=False
    )
    for c, benchmark in enumerate(benchmarks):
        seeds = {}  # runs (seeds) per method in this column, for its title (the legend is shared)
        for r, name in enumerate(rows):
            ax = axes[r][c]
            for method in methods:
                runs = found.get((benchmark, method), {}).get(name, [])
                if not runs:
                    continue
                steps, values = shared_steps(runs)
                if not steps:
                    continue
                curves = np.stack([_smooth(v, window) for v in values])
                ax.plot(steps, curves.mean(axis=0), color=colors[method], lw=1.2, label=method)
                seeds[method] = max(seeds.get(method, 0), len(runs))
                if len(runs) > 1:
                    ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), color=colors[method], alpha=0.18)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[0][c].set_title(f"{benchmark}\n" + ", ".join(f"{m} n={n}" for m, n in sorted(seeds.items())), fontsize=9)
    handles, labels = [], []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(
        f"per-step training curves\nmean over n seeds, band = range, moving average over {window} steps", fontsize=9
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def to_markdown(found: dict) -> str:
    lines = []
    for (benchmark, method), epochs in sorted(found["curves"].items()):
        names = [n for n, _ in COLUMNS if any(n in values for values in epochs.values())]
        lines += [
            f"**{benchmark} {method}** (seeds {sorted(found['seeds'][(benchmark, method)])}; mean over seeds)",
            "",
            "| epoch | " + " | ".join(names) + " |",
            "|---:|" + "---:|" * len(names),
        ]
        for epoch in sorted(epochs):
            cells = [f"{statistics.fmean(epochs[epoch][n]):.3f}" if epochs[epoch].get(n) else "–" for n in names]
            lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"error: {runs_dir} is not a folder", file=sys.stderr)
        return 2
    methods = {m.strip() for m in args.methods.split(",")} if args.methods else None
    found = collect(runs_dir, methods)
    if not found["curves"]:
        print(f"error: no run with a history.json under {runs_dir}", file=sys.stderr)
        return 1
    print(to_markdown(found))
    if args.json:
        payload = [
            {
                "benchmark": b,
                "method": m,
                "seeds": sorted(found["seeds"][(b, m)]),
                "epochs": {str(e): {n: statistics.fmean(v) for n, v in cols.items()} for e, cols in epochs.items()},
            }
            for (b, m), epochs in sorted(found["curves"].items())
        ]
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        steps = collect_steps(runs_dir, methods)
        if not steps:
            print(f"error: no TensorBoard training scalars under {runs_dir}/*/tensorboard", file=sys.stderr)
            return 1
        plot_steps(steps, args.plot, max(1, args.smooth))
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
