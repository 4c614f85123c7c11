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

``--recorded FILE`` pools the AUCs ``study_significance --record`` wrote of runs that went with another machine (a
study spanning sessions and machines): a recorded seed counts where it has no run here, its length given by the
steps it records. The test-set term comes from the scored runs alone; at a length where the two methods of a pair
share no scored seed (all recorded), its paired interval has the seed term only (marked ˢ), which the sd ratio never
needs.

Run (from the repo root; scores are cached as in study_significance.py, so the runs it already scored are reused):
    python bench/study/longer_runs.py --runs-dir /work/data/runs/study-lite0 --benchmark gid-nt23 \\
        --cache /work/data/runs/study-lite0-scores --eval-root /work/data/sff-eval1-faces --json longer.json \\
        --recorded bench/study/recorded_aucs.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_significance import (  # noqa: E402
    UsageError,
    best_val_auc,
    compare,
    faces_name,
    finished_runs,
    read_inputs,
    score_runs,
    settings_of,
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
    parser.add_argument(
        "--recorded",
        default="",
        help="pool the AUCs recorded in this file (study_significance --record) of seeds without a run here; each "
        "length is told apart by the steps the record gives",
    )
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


def lengths(
    runs_dir: Path, benchmark: str, methods: list[str], seeds: set[int] | None, recorded: list[dict] = ()
) -> dict:
    """``{steps: (runs, earlier)}`` of the benchmark's two lengths, on the seeds every method has at both: ``runs``
    ``{method: [(seed, run)]}`` finished here, ``earlier`` ``{method: {seed: entry}}`` the ``recorded`` entries
    (``study_significance --record``, already narrowed to the held-out faces) of seeds without a run here."""
    settings: dict = {}  # steps -> settings hash: a length is one setting
    here: dict = defaultdict(lambda: defaultdict(list))
    there: dict = defaultdict(lambda: defaultdict(dict))

    def length(n: int, at: str) -> None:
        if settings.setdefault(n, at) != at:
            raise NoComparison(f"two settings of {benchmark} train {n} steps: say which with another --runs-dir")

    for by_method in finished_runs(runs_dir, {benchmark}).values():
        seeded = [(m, s, r) for m in methods for s, r in by_method.get(m, [])]
        steps = {steps_of(run) for _, _, run in seeded}
        if len(steps) > 1:
            raise NoComparison(f"{benchmark} holds runs of several lengths {sorted(steps)}: unfinished settings?")
        for method, seed, run in seeded:
            length(steps_of(run), settings_of(run))
            here[steps_of(run)][method].append((seed, run))
    for entry in recorded:
        if entry["benchmark"] == benchmark and entry["method"] in methods:
            length(entry["steps"], entry["settings"])
            there[entry["steps"]][entry["method"]][entry["seed"]] = entry
    found = sorted(n for n in settings if all(here[n][m] or there[n][m] for m in methods))
    if len(found) != 2:
        said = ", ".join(f"{n} steps" for n in found) or "none"
        raise NoComparison(f"{benchmark} needs runs of {', '.join(methods)} at two lengths (found: {said})")
    common = set.intersection(*({s for s, _ in here[n][m]} | set(there[n][m]) for n in found for m in methods))
    if seeds is not None:
        common &= seeds
    if len(common) < 2:
        raise NoComparison(f"{len(common)} seed(s) finished at both lengths; a spread needs two or more")
    out = {}
    for n in found:
        runs = {m: sorted((s, r) for s, r in here[n][m] if s in common) for m in methods}
        ran = {m: {s for s, _ in seeded} for m, seeded in runs.items()}
        earlier = {m: {s: e for s, e in there[n][m].items() if s in common - ran[m]} for m in methods}
        out[n] = ({m: seeded for m, seeded in runs.items() if seeded}, earlier)
    return out


def compare_lengths(runs: dict, reference: str, rounds: int, cache: Path | None, eval_root: Path | None) -> dict:
    """Per length, study_significance's comparison (recorded seeds pooled; seed terms only where the two methods of
    a pair share no scored seed), each run's best validation AUC; per pair, the sd ratio."""
    short, long_ = sorted(runs)
    out: dict = {"steps": [short, long_], "line": float(1 / np.sqrt(long_ / short)), "lengths": {}, "pairs": {}}
    for n, (by_method, earlier) in runs.items():
        scored = score_runs(by_method, cache, eval_root)
        recorded = {m: {s: e["auc"] for s, e in by_seed.items()} for m, by_seed in earlier.items()}
        rows = compare(scored, reference, rounds, 0, recorded)
        for method, row in rows.items():
            row["recorded_seeds"] = sorted(earlier[method])
            best = dict(by_method.get(method, [])) | earlier[method]
            row["best_val_auc"] = [
                best_val_auc(best[s]) if isinstance(best[s], Path) else best[s].get("best_val_auc")
                for s in row["seeds"]
            ]
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

    def per_seed(row: dict) -> str:
        return " ".join(f"{a:.3f}" + ("ʳ" * (s in row["recorded_seeds"])) for s, a in zip(row["seeds"], row["auc"]))

    def best(row: dict) -> str:
        known = [a for a in row["best_val_auc"] if a is not None]
        return f"{min(known):.3f}-{max(known):.3f}" if known else "n/a"

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
            cells += [per_seed(row), f"{row['mean']:.3f} ± {row['std']:.3f}"]
        cells.append(" / ".join(best(at[n][method]) for n in (short, long_)))
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
            mark = "ˢ" if row["paired_test_se"] is None else ""
            cells += [f"{-row['paired_diff']:+.3f} [{-high:+.3f}, {-low:+.3f}]{mark}", f"{row['paired_sd']:.3f}"]
        low, high = pair["sd_ratio_range95"]
        cells += [f"{pair['sd_ratio']:.2f} [{low:.2f}, {high:.2f}]", pair["verdict"]]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if any(row["recorded_seeds"] for rows in at.values() for row in rows.values()):
        notes.append("ʳ recorded AUC (--recorded: the run went with another machine)")
    if any(row.get("paired_test_se", 0) is None for rows in at.values() for row in rows.values()):
        notes.append("ˢ seeds only: the pair shares no scored run at that length, so no test-set term")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        runs_dir, seeds, eval_root = read_inputs(args.runs_dir, args.seeds, args.eval_root)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    methods = [args.reference] + [m.strip() for m in args.methods.split(",") if m.strip() not in ("", args.reference)]
    faces = faces_name(eval_root)
    entries = json.loads(Path(args.recorded).read_text())["runs"] if args.recorded else []
    try:
        runs = lengths(runs_dir, args.benchmark, methods, seeds, [e for e in entries if e["faces"] == faces])
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
