"""``ltw-tf evaluate RUN``: a trained run on every target test set of a benchmark; metrics, JSON and ROC curves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

COLUMNS = (
    ("ACC", "acc"),
    ("LogLoss", "logloss"),
    ("AUC", "auc"),
    ("EER", "eer"),
    ("TPR@1%", "tpr_at_fpr_1e2"),
    ("TPR@0.1%", "tpr_at_fpr_1e3"),
)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def output_files(out_dir: Path, benchmark: str, targets, roc: bool) -> dict:
    """Where the results go: ``<benchmark>.json`` and one ROC PNG per target (frame + video curves)."""
    pngs = {t: out_dir / f"{_slug(benchmark)}-{_slug(t)}-roc.png" for t in targets} if roc else {}
    return {"json": out_dir / f"{_slug(benchmark)}.json", "roc": pngs}


def table(payload: dict) -> str:
    """The metrics as a fixed-width text table, one line per target and level."""
    name_width = max(8, *(len(t) for t in payload["targets"]))
    head = f"{'target':<{name_width}}  level   real  fake  " + "  ".join(f"{c:>8}" for c, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    for target, levels in payload["targets"].items():
        for level in ("frame", "video"):
            m = levels[level]
            lines.append(
                f"{target:<{name_width}}  {level:<5}  {m['n_real']:>5} {m['n_fake']:>5}  "
                + "  ".join(f"{m[k]:>8.4f}" for _, k in COLUMNS)
            )
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("run", metavar="RUNDIR|CHECKPOINT", type=click.Path())
@click.option("--benchmark", help="Benchmark whose target test sets to use (default: the run's own).")
@click.option("--data-root", type=click.Path(file_okay=False), help="Prepared faces (default: the run's data root).")
@click.option(
    "--checkpoint",
    "which",
    type=click.Choice(["best", "latest"]),
    default="best",
    show_default=True,
    help="For a run directory: best validation AUC (falls back to latest) or the last epoch.",
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), help="Write results here instead of RUN/eval/.")
@click.option("--overwrite", is_flag=True, help="Replace existing files in --out (RUN/eval/ is always regenerated).")
@click.option("--no-roc", is_flag=True, help="Skip the ROC curve PNGs.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
def evaluate_command(run, benchmark, data_root, which, batch_size, out, overwrite, no_roc, as_json):
    """Evaluate a trained run on every target test set of a benchmark (frame and video level).

    Prints ACC, LogLoss, AUC, EER and TPR at 1% / 0.1% FPR per target. Writes RUN/eval/<benchmark>.json and
    RUN/eval/<benchmark>-<target>-roc.png (frame and video ROC in one plot) atomically; the files under RUN/eval/
    are results and are regenerated on every call, files in --out are only replaced with --overwrite.

    \b
    Examples:
      ltw-tf evaluate runs/gid-fs23-ltw-s0
      ltw-tf evaluate runs/gid-fs23-ltw-s0 --benchmark gid-df23 --json
      ltw-tf evaluate runs/gid-fs23-ltw-s0/checkpoints/ckpt-4 --no-roc
      ltw-tf evaluate runs/gid-fs23-ltw-s0 --data-root /data/ffpp-faces --out reports/fs23 --overwrite
    """
    from ltw_tf.benchmarks import get_benchmark
    from ltw_tf.evaluate import evaluate_run, json_ready
    from ltw_tf.io import write_json
    from ltw_tf.metrics import video_level
    from ltw_tf.reporting import save_roc_png
    from ltw_tf.runs import resolve_run

    ref = resolve_run(run, which)  # fail fast, before any model is built
    bench = get_benchmark(benchmark or ref.config.data.benchmark)
    out_dir = Path(out) if out else ref.run_dir / "eval"
    files = output_files(out_dir, bench.name, [t.name for t in bench.targets], roc=not no_roc)
    if out and not overwrite:
        taken = [p for p in (files["json"], *files["roc"].values()) if p.exists()]
        if taken:
            raise FileExistsError(f"{taken[0]} exists; pass --overwrite to replace it")

    result = evaluate_run(run, benchmark=bench.name, data_root=data_root, which=which, batch_size=batch_size)
    payload = json_ready(result)
    for target, data in result["targets"].items():
        png = files["roc"].get(target)
        payload["targets"][target]["roc_png"] = png.name if png else None
        if png:
            video_labels, video_probs, _ = video_level(data["labels"], data["probs"], data["video_ids"])
            save_roc_png(
                png,
                {"frame": (data["labels"], data["probs"]), "video": (video_labels, video_probs)},
                title=f"{bench.name} -> {target} ({payload['method']})",
            )
    write_json(files["json"], payload)  # last: its presence means the whole evaluation finished

    if as_json:
        click.echo(json.dumps({**payload, "results": str(files["json"])}, indent=2))
        return
    click.echo(f"{payload['benchmark']}: {payload['method']} ({payload['backbone']}) from {payload['checkpoint']}")
    click.echo(table(payload))
    click.echo(f"results: {files['json']}")
    for png in files["roc"].values():
        click.echo(f"ROC:     {png}")
