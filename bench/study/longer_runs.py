"""Longer runs (issue 30): do more training steps make a study's paired differences steadier?

One benchmark of a study's ``--runs-dir`` holding runs of two lengths (the same settings but the steps: each run's
steps are the ``steps`` of its ``history.json``, summed), on the seeds that every method finished at both: each
method's held-out frame AUC (mean, sd over seeds, and its best source-domain validation AUC), and per pair
``reference - method`` (e.g. LTW - Alltrain) at each length the paired difference with its 95 % interval
(``study_significance``: seeds and test videos), its sd over seeds, and

    ratio = sd(long) / sd(short),  95 % range  ratio / sqrt(F_0.975(n-1, n-1)) .. ratio / sqrt(F_0.025(n-1, n-1)),

the range of two independent samples of n seeds (the two lengths share their seeds, so their spreads are positively
correlated and the range is if anything too wide). The seeds a paired interval needs grow as sd^2 and a run costs
its steps, so longer runs are the cheaper way to a decisive study iff ratio < 1 / sqrt(steps(long) / steps(short))
(0.58 for three times the steps): the decision rule docs/RESULTS.md fixed before the longer runs trained. A pair
whose range spans that line is decided by its point estimate only, and the verdict says so.

Run (from the repo root; scores are cached as in study_significance.py, so the runs it already scored are reused):
    python bench/study/longer_runs.py --runs-dir /work/data/runs/study-lite0 --benchmark gid-nt23 \\
        --cache /work/data/runs/study-lite0-scores --eval-root /work/data/sff-eval1-faces --json longer.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_significance import (  # noqa: E402
    UsageError,
    best_val_auc,
    compare,
    finished_runs,
    read_inputs,
    score_runs,
    steps_of,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, help="a study's --runs-dir")
    parser.add_argument("--benchmark", required=True, help="the benchmark trained at two lengths, e.g. gid-nt23")
    parser.add_argument("--reference", default="ltw", help="method every other is compared with (default: ltw)")
    parser.add_argument("--methods", default="alltrain,mldg", help="methods compared with it (default: alltrain,mldg)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: every seed finished at both lengths)")
    parser.add_argument("--rounds", type=int, default=2000, help="bootstrap resamples of the test videos")
    parser.add_argument("--cache", default="", help="score cache, shared with study_significance.py")
    parser.add_argument("--eval-root", default="", help="score on this independent prepared build (as there)")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    return parser.parse_args(argv)


def sd_ratio_range(ratio: float, n_long: int, n_short: int, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` range of the true sd ratio given the measured ``ratio`` of two sample sds (F distribution)."""
    from scipy import stats

    tail = (1 - level) / 2
    upper = stats.f.ppf(1 - tail, n_long - 1, n_short - 1)
    lower = stats.f.ppf(tail, n_long - 1, n_short - 1)
    return float(ratio / np.sqrt(upper)), float(ratio / np.sqrt(lower))


def verdict(ratio: float, low: float, high: float, line: float) -> str:
    """RESULTS' rule: longer runs iff ratio < line; said plainly when the range spans the line."""
    choice = "longer runs" if ratio < line else "more seeds"
    return choice if high < line or low > line else f"{choice} (point estimate only: the range spans {line:.2f})"


class NoComparison(ValueError):
    """The runs cannot answer the question (not two lengths, too few seeds)."""


def lengths(runs_dir: Path, benchmark: str, methods: list[str], seeds: set[int] | None) -> dict:
    """``{steps: {method: [(seed, run)]}}`` of the benchmark's two lengths, on the seeds every method finished at
    both."""
    groups = finished_runs(runs_dir, {benchmark})
    by_steps: dict = {}
    for group, by_method in groups.items():
        if not all(by_method.get(m) for m in methods):
            continue
        steps = {steps_of(run) for seeded in by_method.values() for _, run in seeded}
        if len(steps) != 1:
            raise NoComparison(f"{group} holds runs of several lengths {sorted(steps)}: unfinished settings?")
        (n,) = steps
        if n in by_steps:
            raise NoComparison(f"two settings of {benchmark} train {n} steps: say which with another --runs-dir")
        by_steps[n] = {m: by_method[m] for m in methods}
    if len(by_steps) != 2:
        found = ", ".join(f"{n} steps" for n in sorted(by_steps)) or "none"
        raise NoComparison(f"{benchmark} needs runs of {', '.join(methods)} at two lengths (found: {found})")
    common = set.intersection(*({s for s, _ in seeded} for by in by_steps.values() for seeded in by.values()))
    if seeds is not None:
        common &= seeds
    if len(common) < 2:
        raise NoComparison(f"{len(common)} seed(s) finished at both lengths; a spread needs two or more")
    return {n: {m: sorted((s, r) for s, r in sr if s in common) for m, sr in by.items()} for n, by in by_steps.items()}


def compare_lengths(runs: dict, reference: str, rounds: int, cache: Path | None, eval_root: Path | None) -> dict:
    """Per length, study_significance's comparison, each run's best validation AUC; per pair, the sd ratio."""
    short, long_ = sorted(runs)
    out: dict = {"steps": [short, long_], "line": float(1 / np.sqrt(long_ / short)), "lengths": {}, "pairs": {}}
    for n, by_method in runs.items():
        rows = compare(score_runs(by_method, cache, eval_root), reference, rounds, 0)
        for method, row in rows.items():
            row["best_val_auc"] = [best_val_auc(run) for _, run in by_method[method]]
            if "paired_diffs" in row:
                row["paired_sd"] = statistics.stdev(row["paired_diffs"])
        out["lengths"][str(n)] = rows
    for method in sorted(out["lengths"][str(short)]):
        if method == reference:
            continue
        a, b = (out["lengths"][str(n)][method] for n in (short, long_))
        ratio = b["paired_sd"] / a["paired_sd"] if a["paired_sd"] > 0 else float("inf")
        low, high = sd_ratio_range(ratio, len(b["paired_diffs"]), len(a["paired_diffs"]))
        out["pairs"][method] = {
            "sd_ratio": ratio,
            "sd_ratio_range95": [low, high],
            "verdict": verdict(ratio, low, high, out["line"]),
        }
    return out


def to_markdown(result: dict, benchmark: str, reference: str) -> str:
    short, long_ = result["steps"]
    at = {n: result["lengths"][str(n)] for n in (short, long_)}
    seeds = ",".join(str(s) for s in at[short][reference]["seeds"])
    lines = [
        f"**{benchmark}**, seeds {seeds}: {short} vs {long_} steps (held-out frame AUC)",
        "",
        f"| method | AUC per seed, {short} | mean ± sd | AUC per seed, {long_} | mean ± sd "
        f"| best val AUC {short} / {long_} |",
        "|---|---|---:|---|---:|---|",
    ]
    for method in sorted(at[short], key=lambda m: (m != reference, m)):
        cells = [method]
        for n in (short, long_):
            row = at[n][method]
            cells += [" ".join(f"{a:.3f}" for a in row["auc"]), f"{row['mean']:.3f} ± {row['std']:.3f}"]
        cells.append(
            " / ".join(
                f"{min(at[n][method]['best_val_auc']):.3f}-{max(at[n][method]['best_val_auc']):.3f}"
                for n in (short, long_)
            )
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"paired {reference} - method (same seed), 95 % interval (seeds + test videos), sd over seeds; rule: longer "
        f"runs iff sd ratio < {result['line']:.2f}",
        "",
        f"| pair | {short} steps | sd | {long_} steps | sd | sd ratio (95 % range) | verdict |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for method, pair in result["pairs"].items():
        cells = [f"{reference} - {method}"]
        for n in (short, long_):
            row = at[n][method]
            low, high = row["paired_ci95"]
            cells += [f"{-row['paired_diff']:+.3f} [{-high:+.3f}, {-low:+.3f}]", f"{row['paired_sd']:.3f}"]
        low, high = pair["sd_ratio_range95"]
        cells += [f"{pair['sd_ratio']:.2f} [{low:.2f}, {high:.2f}]", pair["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs_dir, seeds, eval_root = read_inputs(args.runs_dir, args.seeds, args.eval_root)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    methods = [args.reference] + [m.strip() for m in args.methods.split(",") if m.strip() not in ("", args.reference)]
    try:
        runs = lengths(runs_dir, args.benchmark, methods, seeds)
    except NoComparison as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    cache = Path(args.cache) if args.cache else None
    if cache:
        cache.mkdir(parents=True, exist_ok=True)
    result = compare_lengths(runs, args.reference, args.rounds, cache, eval_root)
    where = f"every split of {eval_root} pooled (independent build)" if eval_root else "each run's own test split"
    print(f"held-out faces: {where}\n")
    print(to_markdown(result, args.benchmark, args.reference))
    if args.json:
        from ltw_tf.io import write_json

        write_json(args.json, {"held_out_faces": where, "benchmark": args.benchmark, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
