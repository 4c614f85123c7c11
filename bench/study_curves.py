"""Training curves of a study's runs: per benchmark x method x epoch, the mean over seeds of the logged values.

What the study issue asks for when LTW does not win: how the weight net's weights (mean and spread over a batch)
and the meta-test loss moved over training, next to the meta-train loss and the validation AUC. Reads only the
``history.json`` and ``config.json`` every run directory keeps (no TensorFlow), so it also works on a study that
is still running (unfinished runs show the epochs they have).

Run (from the repo root):
    python bench/study_curves.py --runs-dir /work/data/runs/study
    python bench/study_curves.py --runs-dir runs --methods ltw,mldg --json curves.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
