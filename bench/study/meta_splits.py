"""Which source domain each LTW run meta-tested on, epoch by epoch, beside its held-out AUC.

LTW splits the source domains once per epoch (its paper; ALGORITHM.md "Meta-split strategy"): with N = 3 GID source
families, one of them is the meta-test domain for a whole epoch, drawn from the run's seed and the epoch alone
(``ltw_tf.data.meta_split.meta_split``), the same draw on every benchmark. A short run (the study's three epochs)
therefore meta-tests on some families and never on others, and which ones is fixed by the seed; MLDG redraws every
step and sees all six splits. This script lists, per run, the meta-test domain of each epoch (from the run's
history.json: what training actually drew), how many epochs each source family was the meta-test domain, the epoch
of the best checkpoint, the paired-meta-batch fallbacks (of the epoch's whole plan, of which a run with
--steps-per-epoch trains the first steps), and the held-out frame AUC — from the run's own evaluation, or from a
``bench/study/study_significance.py --json`` file (e.g. the evaluation build), which also gives ``method - --reference``
per seed. Each benchmark closes with the mean of that difference over the seeds whose meta-test domains covered
every source family and over the rest.

It reads JSON only (no TensorFlow, no scoring):
    python bench/study/meta_splits.py --runs-dir /work/data/runs/study-lite0 \
        --significance /work/data/analysis/study-lite0/sig-eval1.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from study_significance import comma_set, settings_groups, settings_of  # bench/, beside this script

ABBREVIATIONS = {"Deepfakes": "DF", "Face2Face": "F2F", "FaceSwap": "FS", "NeuralTextures": "NT"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, help="a study's --runs-dir")
    parser.add_argument("--methods", default="ltw", help="comma-separated methods that split per epoch (default: ltw)")
    parser.add_argument("--benchmarks", help="comma-separated benchmarks (default: all found)")
    parser.add_argument(
        "--significance",
        default="",
        help="a bench/study/study_significance.py --json file: take the held-out AUC per seed from it (its test set) "
        "and add method - --reference per seed",
    )
    parser.add_argument(
        "--settings",
        help="comma-separated settings hashes to use (default: all, each apart), as study_significance.py --settings",
    )
    parser.add_argument("--reference", default="alltrain", help="with --significance: compared method")
    parser.add_argument("--json", default="", help="also write the result as JSON to this path")
    return parser.parse_args(argv)


def short(domain: str) -> str:
    return ABBREVIATIONS.get(domain, domain)


def run_splits(run: Path, config: dict) -> dict | None:
    """The run's per-epoch meta-test domains, best epoch, fallbacks and own held-out frame AUC; None if some epoch
    has no per-epoch meta-split (per-step methods, ltw-no-meta-test's retraining) or the benchmark has several
    target sets (GCD: no single held-out family)."""
    history = json.loads((run / "history.json").read_text())
    if not history or not all(epoch.get("data", {}).get("meta_domains") for epoch in history):
        return None
    benchmark = config["data"]["benchmark"]
    evaluation = json.loads((run / "eval" / f"{benchmark}.json").read_text())
    if len(evaluation["targets"]) != 1:
        return None
    (held_out,) = evaluation["targets"].values()
    first = history[0]["data"]
    sources = sorted({*first["train_domains"], *first["meta_domains"]})
    meta = [epoch["data"]["meta_domains"] for epoch in history]
    return {
        "benchmark": benchmark,
        "method": config["train"]["method"],
        "seed": config["train"]["seed"],
        "run": run.name,
        "sources": sources,
        "meta_domains": meta,
        "epochs_as_meta": {d: sum(d in m for m in meta) for d in sources},
        "covers_all": all(any(d in m for m in meta) for d in sources),
        "best_epoch": max((epoch["epoch"] for epoch in history if epoch.get("best")), default=None),
        "pair_fallbacks": [epoch["data"].get("pair_fallbacks", 0) for epoch in history],
        "auc_own": held_out["frame"]["auc"],
    }


def collect(
    runs_dir: Path,
    methods: set[str],
    benchmarks: set[str] | None,
    significance: dict | None,
    reference: str,
    settings: set[str] | None = None,
):
    """``{group: [row per run, by method and seed]}`` of finished runs (the study's evaluation written), grouped as
    ``bench/study/study_significance.py`` groups them: by benchmark, or "benchmark @hash" when the folder holds runs of
    several settings for it (run folders end in ``-<settings hash>``), so its per-seed AUC match."""
    found: dict = {}  # {benchmark: {settings hash: rows}}
    skipped = 0
    for config_path in sorted(runs_dir.glob("*/config.json")):
        run = config_path.parent
        config = json.loads(config_path.read_text())
        benchmark = config["data"]["benchmark"]
        if config["train"]["method"] not in methods or (benchmarks and benchmark not in benchmarks):
            continue
        if settings and settings_of(run) not in settings:
            continue
        if not (run / "eval" / f"{benchmark}.json").is_file() or not (run / "history.json").is_file():
            continue  # not finished
        row = run_splits(run, config)
        if row is None:
            skipped += 1
            continue
        found.setdefault(benchmark, {}).setdefault(settings_of(run), []).append(row)
    if skipped:
        print(f"skipped {skipped} finished run(s) without a per-epoch meta-split in every epoch", file=sys.stderr)
    groups = settings_groups(found)
    for group, rows in groups.items():
        rows.sort(key=lambda r: (r["method"], r["seed"]))
        for row in rows if significance is not None else ():
            by = significance.get(group, {})
            mine, ref = by.get(row["method"], {}), by.get(reference, {})
            auc = dict(zip(mine.get("seeds", []), mine.get("auc", [])))
            ref_auc = dict(zip(ref.get("seeds", []), ref.get("auc", [])))
            row["auc"] = auc.get(row["seed"])
            row["diff"] = (
                row["auc"] - ref_auc[row["seed"]] if row["auc"] is not None and row["seed"] in ref_auc else None
            )
    if significance is not None and groups and not any(r["auc"] is not None for g in groups.values() for r in g):
        print(
            "warning: --significance holds none of these runs' seeds (other runs, settings or seeds?)", file=sys.stderr
        )
    return groups


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):+.3f} (n = {len(values)})" if values else "–"


def to_markdown(found: dict, reference: str, with_significance: bool) -> str:
    out = []
    for benchmark, rows in sorted(found.items()):
        sources = rows[0]["sources"]
        names = "/".join(short(d) for d in sources)
        head = ["method", "seed", "meta-test domain per epoch", f"epochs as meta-test ({names})", "best epoch"]
        head += ["pair fallbacks (epoch plan)", "held-out AUC, own split"]
        if with_significance:
            head += ["held-out AUC", f"- {reference}"]
        out += [f"**{benchmark}** (source domains {', '.join(sources)})", ""]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["method"], str(r["seed"]), " ".join("+".join(short(d) for d in m) for m in r["meta_domains"])]
            cells += ["/".join(str(r["epochs_as_meta"][d]) for d in sources), str(r["best_epoch"] or "–")]
            cells += [" ".join(str(n) for n in r["pair_fallbacks"]), f"{r['auc_own']:.3f}"]
            if with_significance:
                cells += [
                    "–" if r.get("auc") is None else f"{r['auc']:.3f}",
                    "–" if r.get("diff") is None else f"{r['diff']:+.3f}",
                ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if with_significance:
            for method in sorted({r["method"] for r in rows}):
                mine = [r for r in rows if r["method"] == method and r.get("diff") is not None]
                every = [r["diff"] for r in mine if r["covers_all"]]
                rest = [r["diff"] for r in mine if not r["covers_all"]]
                out += [
                    f"mean {method} - {reference}: meta-tested on every source family {_mean(every)}; "
                    f"on some only {_mean(rest)}",
                    "",
                ]
    return "\n".join(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    runs_dir = Path(args.runs_dir)
    if not runs_dir.is_dir():
        print(f"error: {runs_dir} is not a folder", file=sys.stderr)
        return 2
    significance = None
    if args.significance:
        try:
            significance = json.loads(Path(args.significance).read_text())
        except (OSError, ValueError) as error:
            print(f"error: --significance {args.significance}: {error}", file=sys.stderr)
            return 2
        if not isinstance(significance, dict) or "held_out_faces" not in significance:
            print(
                f"error: --significance {args.significance} is not a bench/study/study_significance.py --json file",
                file=sys.stderr,
            )
            return 2
    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    benchmarks, settings = comma_set(args.benchmarks), comma_set(args.settings)
    found = collect(runs_dir, methods, benchmarks, significance, args.reference, settings)
    if not found:
        print(
            f"error: no finished run that splits per epoch ({', '.join(sorted(methods))}) under {runs_dir}",
            file=sys.stderr,
        )
        return 1
    if significance is not None:
        print(f"held-out AUC: {significance.get('held_out_faces', args.significance)}\n")
    print(to_markdown(found, args.reference, significance is not None))
    if args.json:
        from ltw_tf.io import write_json

        write_json(args.json, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
