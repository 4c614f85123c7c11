"""``ltw-tf weights RUN``: the weights p(w) gives the run's training faces (paper Fig. 4) and their statistics."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _stats_lines(stats: dict) -> list[str]:
    rows = [("all", stats["all"]), *stats["by_label"].items(), *((f"  {d}", s) for d, s in stats["by_domain"].items())]
    width = max(len(name) for name, _ in rows)
    head = f"{'faces':<{width}}  {'n':>6}  {'mean':>8}  {'std':>8}  {'min':>8}  {'max':>8}"
    return [
        head,
        *(
            f"{name:<{width}}  {s['n']:>6}  {s['mean']:>8.6f}  {s['std']:>8.6f}  {s['min']:>8.6f}  {s['max']:>8.6f}"
            for name, s in rows
        ),
    ]


@click.command("weights")
@click.argument("run", metavar="RUNDIR", type=click.Path())
@click.option(
    "--n",
    "n",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Faces per row: the n highest and n lowest weights of each side.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Grid PNG (default RUN/weights-SPLIT.png).")
@click.option("--overwrite", is_flag=True, help="Replace an existing grid PNG.")
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test"]),
    default="train",
    show_default=True,
    help="Which split of the run's source domains to weight.",
)
@click.option("--data-root", type=click.Path(file_okay=False), help="Prepared faces (default: the run's data root).")
@click.option(
    "--mode",
    type=click.Choice(["batch", "inference"]),
    default="batch",
    show_default=True,
    help="batch: the weights the meta step applied (batch statistics of balanced batches of the run's batch size); "
    "inference: BN moving statistics.",
)
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True, help="Faces per call (inference).")
@click.option("--json", "as_json", is_flag=True, help="Print statistics and the chosen faces as JSON.")
def weights_command(run, n, out, overwrite, split, data_root, mode, batch_size, as_json):
    """Show which faces the weight-aware net p(w) trusts: paper Fig. 4 for an LTW-family run.

    Restores the detector and p(w) from the run's latest training checkpoint, weights every source-domain face of
    SPLIT (p(stop_gradient(F))), writes a grid PNG (fake left, real right; the n highest then the n lowest
    weights, each printed under its face; the title says which weights) and prints mean / std / min / max per
    label and domain. Default --mode batch: the weights the meta step applied, recomputed with the batch
    statistics of balanced batches of the run's batch size (half real, half fake; dropout off), not the BN
    moving statistics (--mode inference), which lag behind in short runs (docs/DESIGN.md).
    Methods without a weight net (alltrain, focal, mldg, ltw-no-weight) are refused.

    \b
    Examples:
      ltw-tf weights runs/gid-fs23-ltw-s0
      ltw-tf weights runs/gid-fs23-ltw-s0 --n 4 --out fig4.png --overwrite
      ltw-tf weights runs/gid-fs23-ltw-s0 --split val --json > weights-val.json
    """
    from ltw_tf.evaluate import extreme_faces, face_weights, weight_stats
    from ltw_tf.reporting import extremes_grid, save_png
    from ltw_tf.runs import resolve_run

    target = Path(out) if out else resolve_run(run, "latest").run_dir / f"weights-{split}.png"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass --overwrite to replace it")
    report = face_weights(run, data_root=data_root, split=split, batch_size=batch_size, mode=mode)
    extremes = extreme_faces(report["faces"], report["weights"], n)
    stats = weight_stats(report["faces"], report["weights"])
    title = f"p(w) {report['mode_text']}"
    save_png(target, extremes_grid(extremes, report["data_root"], n, title=title))

    summary = {k: report[k] for k in ("run_dir", "checkpoint", "method", "benchmark", "split", "mode", "mode_text")}
    summary.update(n_faces=len(report["faces"]), stats=stats, faces=extremes, grid=str(target))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{summary['method']} weights on {summary['benchmark']} {split} ({summary['n_faces']} faces) from "
        f"{summary['checkpoint']}; p(w) {summary['mode_text']}"
    )
    click.echo("\n".join(_stats_lines(stats)))
    for side, lists in extremes.items():
        for which, entries in lists.items():
            click.echo(f"{side} {which}: " + ", ".join(f"{e['weight']:.6f} {e['path']}" for e in entries))
    click.echo(f"grid: {target}")
