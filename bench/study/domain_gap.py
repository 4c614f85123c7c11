"""The synthff domain gap (issue 3): per GID-?23 split, a plain detector's in-domain vs held-out AUC.

For each held-out family it trains Alltrain (a plain detector, no meta-learning) on the other three families
through ``ltw_tf.study`` (the same code path as ``ltw-tf benchmark``; finished runs are reused), then evaluates
the best checkpoint on the test split of all four families (each set: the test reals + that family's fakes).
In-domain AUC is the mean over the three training families, held-out AUC the fourth. A benchmark that can
separate methods needs held-out well below in-domain and well above 0.5.

Run (from the repo root; a prepared synthff root with c23 faces):
    python bench/study/domain_gap.py --data-root data/synthff-faces --backbone efficientnet_b0 --image-size 64
    python bench/study/domain_gap.py --data-root data/synthff-faces --backbone tiny --image-size 64   # minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from ltw_tf.native_logs import quiet_tensorflow  # noqa: E402

quiet_tensorflow(verbose=False)  # before TensorFlow: its start-up lines off this terminal

from ltw_tf.benchmarks import get_benchmark  # noqa: E402
from ltw_tf.evaluate import evaluate_run  # noqa: E402
from ltw_tf.study import plan_study, run_study  # noqa: E402

SPLITS = ("gid-df23", "gid-f2f23", "gid-fs23", "gid-nt23")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, help="prepared synthff (or FF++) faces with manifest.csv")
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--weights", default="none")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--splits", default=",".join(SPLITS), help="comma-separated GID splits to train")
    parser.add_argument("--runs-dir", default="runs/domain-gap")
    parser.add_argument("--json", default="bench/out/domain_gap.json", help="output path ('' to skip)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    overrides = {
        "data.data_root": args.data_root,
        "model.backbone": args.backbone,
        "model.weights": args.weights,
        "model.image_size": args.image_size,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.steps_per_epoch": args.steps_per_epoch,
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    splits = [s for s in args.splits.split(",") if s]
    cells = plan_study(["alltrain"], splits, seeds, overrides=overrides, runs_dir=args.runs_dir)
    start = time.perf_counter()

    def report(k, n, result):
        print(
            f"[{k}/{n}] alltrain {result.cell.benchmark} seed {result.cell.seed}: {result.status} "
            f"({result.seconds:.0f} s){' ' + result.error if result.error else ''}",
            flush=True,
        )

    results = run_study(cells, on_result=report)
    rows = []
    for result in results:
        if result.status == "failed":
            continue
        held_out = get_benchmark(result.cell.benchmark).targets[0].name
        aucs = {}
        for split in SPLITS:  # each family's test set (reals + that family's fakes)
            evaluation = evaluate_run(result.cell.run_dir, benchmark=split)
            ((name, target),) = evaluation["targets"].items()
            aucs[name] = target["frame"]["auc"]
        in_domain = statistics.fmean(v for k, v in aucs.items() if k != held_out)
        rows.append(
            {
                "split": result.cell.benchmark,
                "seed": result.cell.seed,
                "held_out": held_out,
                "in_domain_auc": in_domain,
                "held_out_auc": aucs[held_out],
                "family_auc": aucs,
            }
        )
    wall = time.perf_counter() - start
    print("\n| split | held-out family | in-domain AUC (mean of 3) | held-out AUC | per family |")
    print("|---|---|---|---|---|")
    for r in rows:
        fam = ", ".join(f"{k} {v:.3f}" for k, v in r["family_auc"].items())
        print(
            f"| {r['split']} (seed {r['seed']}) | {r['held_out']} | {r['in_domain_auc']:.3f} | "
            f"{r['held_out_auc']:.3f} | {fam} |"
        )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"args": vars(args), "rows": rows, "wall_s": wall}, indent=2) + "\n")
        print(f"\nwrote {out}")
    print(f"wall time {wall:.0f} s; failed cells: {sum(r.status == 'failed' for r in results)}")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
