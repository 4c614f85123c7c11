"""``ltw-tf benchmark``: run (or reuse) a grid of methods x benchmarks x seeds and write a paper-style table."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cli.train import BACKBONE_HELP


def _names(ctx, param, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give at least one name (comma-separated)")
    return names


def _seeds(ctx, param, value: str) -> list[int]:
    try:
        seeds = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers") from None
    if not seeds:
        raise click.BadParameter("give at least one seed")
    return seeds


def _tables(ctx, param, value: str) -> list[str]:
    from ltw_tf.tables import TABLE_IDS

    tables = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [t for t in tables if t not in TABLE_IDS]
    if unknown or not tables:
        raise click.BadParameter(
            f"{', '.join(unknown) or repr(value)}: choose from {', '.join(TABLE_IDS)} (a comma list for several tables)"
        )
    return tables


def _axes(table: str, methods, benchmarks, backbones, several: bool = False):
    """Methods / benchmarks / backbones: the flags, else the paper table's defaults (flag conflicts: exit 2).

    With ``several`` tables, ``--benchmarks`` is shared: each table keeps the ones it has a column for. A movable
    table asked for alone (Table 5) takes ``--benchmarks`` as its columns: the ablations on another split.
    """
    from ltw_tf.benchmarks import get_benchmark
    from ltw_tf.tables import COMPARED, TABLES

    spec = TABLES.get(table)
    if spec is None:
        if benchmarks is None:
            raise click.UsageError("pass --benchmarks (e.g. gid-df23,gid-fs23) or --table 2|3|4|5|6")
        return methods or list(COMPARED), benchmarks, backbones or []
    if benchmarks is not None:
        names = [get_benchmark(b).name for b in benchmarks]
        if spec.movable and not several:  # e.g. --table 5 --benchmarks gid-f2f23: the ablations on another split
            return methods or list(spec.methods), names, backbones or list(spec.backbones)
        inside = [b for b in names if b in spec.benchmarks]
        if (several and not inside) or (not several and len(inside) < len(names)):
            outside = [b for b in names if b not in spec.benchmarks]
            raise click.UsageError(
                f"--table {table} has no column for {', '.join(outside)}; its benchmarks: {', '.join(spec.benchmarks)}"
                + (f" (ask for --table {table} alone to move it)" if spec.movable else "")
            )
        benchmarks = inside
    return methods or list(spec.methods), benchmarks or list(spec.benchmarks), backbones or list(spec.backbones)


def _plan(tables: list[str], methods, benchmarks, backbones, seeds, overrides, config_file, runs_dir):
    """Each table's axes and the union of their cells (a run shared by two tables is planned once), seed-major.

    ``all`` next to paper tables adds no cells: it is the long table of every cell the others need.
    """
    from ltw_tf.benchmarks import get_benchmark
    from ltw_tf.study import plan_study

    paper = [t for t in tables if t != "all"]
    several = len(paper) > 1
    axes = {t: _axes(t, methods, benchmarks, backbones, several) for t in (paper or tables)}
    if several and benchmarks is not None:
        used = {b for _, bench, _ in axes.values() for b in bench}
        unused = [b for b in benchmarks if get_benchmark(b).name not in used]
        if unused:
            raise click.UsageError(f"no table among --table {','.join(tables)} has a column for {', '.join(unused)}")
    cells = {}
    for table_methods, table_benchmarks, table_backbones in axes.values():
        for cell in plan_study(
            table_methods, table_benchmarks, seeds, table_backbones, overrides, config_file, runs_dir
        ):
            cells.setdefault(cell.run_dir, cell)
    # seed-major order: a grid stopped part-way (and resumed later) has whole seeds of every table first
    cells = sorted(cells.values(), key=lambda c: c.seed)
    if "all" in tables and paper:
        axes["all"] = (
            list(dict.fromkeys(c.method for c in cells)),
            list(dict.fromkeys(c.benchmark for c in cells)),
            list(dict.fromkeys(c.backbone for c in cells)),
        )
    return [(t, axes[t]) for t in tables], cells


def _coordinates(cell, backbones: bool) -> str:
    return f"{cell.method} {cell.benchmark} seed {cell.seed}" + (f" {cell.backbone}" if backbones else "")


@click.command("benchmark")
@click.option(
    "--methods",
    callback=_names,
    help="Comma list (default: the table's, else the paper's seven: basemodel, alltrain, focal, forensic-transfer, "
    "multi-task (needs manipulation masks), mldg, ltw).",
)
@click.option(
    "--benchmarks",
    callback=_names,
    help="Comma list, e.g. gid-df23,gid-fs23 (default: the table's). With --table 5 alone: the ablation table's "
    "split(s) instead of the paper's GID-DF23.",
)
@click.option("--seeds", default="0,1,2", show_default=True, callback=_seeds, help="Comma list of run seeds.")
@click.option(
    "--table",
    "tables",
    default="all",
    show_default=True,
    callback=_tables,
    help="The paper's table 2-6 (its layout and default methods/benchmarks) or the long table of all "
    "metrics; a comma list (e.g. 2,3,5) runs the union of the tables' runs and writes each table.",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="Prepared faces (manifest.csv). Default: data.data_root of --config, else $LTW_DATA_ROOT.",
)
@click.option(
    "--backbone",
    "backbones",
    callback=_names,
    help=BACKBONE_HELP + "; a comma list is a grid axis (--table 6: the paper's five).",
)
@click.option("--weights", help="none | imagenet (default) | PATH to backbone .weights.h5.")
@click.option("--image-size", type=click.IntRange(16, 1024), help="Input size in pixels (paper: 224).")
@click.option(
    "--bn-momentum",
    type=click.FloatRange(0, 1, max_open=True),
    help="BatchNorm moving-statistics momentum (default: the backbone's, 0.99 for EfficientNet); 0.9 for "
    "short runs from random init.",
)
@click.option(
    "--epochs", type=click.IntRange(1), help="Epochs per run (default 10; of each phase for ltw-no-meta-test)."
)
@click.option("--batch-size", type=click.IntRange(2), help="Batch size (paper: 25).")
@click.option("--steps-per-epoch", type=click.IntRange(1), help="Cap the steps of each epoch.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON/YAML file with model/data/train sections shared by every run; flags override it.",
)
@click.option(
    "--runs-dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the runs live (RUNS/BENCH-METHOD-sSEED-HASH; HASH covers the other settings).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Where table<N>.md/.csv go (default RUNS/tables).")
@click.option("--json", "as_json", is_flag=True, help="Print the runs and the table as JSON.")
@click.option("--dry-run", is_flag=True, help="List the planned runs and which are reusable; train nothing.")
@click.pass_context
def benchmark_command(
    ctx,
    methods,
    benchmarks,
    seeds,
    tables,
    data_root,
    backbones,
    weights,
    image_size,
    bn_momentum,
    epochs,
    batch_size,
    steps_per_epoch,
    config_file,
    runs_dir,
    out,
    as_json,
    dry_run,
):
    """Train (or reuse) every method x benchmark x seed run and write a paper-style table of mean ± std.

    Finished runs with the same settings are reused, interrupted ones resumed; each run's evaluation is cached
    in RUN/eval/<benchmark>.json. A failing run is reported and the rest go on (exit 1 at the end).

    \b
    Examples:
      ltw-tf benchmark --table 2 --data-root data/ffpp-faces              the paper's Table 2, 3 seeds
      ltw-tf benchmark --methods alltrain,ltw --benchmarks gid-df23,gid-fs23 --seeds 0 \\
          --data-root data/synthff-faces --backbone tiny --weights none --image-size 64 --epochs 2
      ltw-tf benchmark --table 5 --data-root data/ffpp-faces --dry-run    what would train, what is reused
      ltw-tf benchmark --table 5 --benchmarks gid-f2f23 ...   the ablations on another split (paper: GID-DF23)
      ltw-tf benchmark --table 6 --backbone efficientnet_b2,xception --data-root data/ffpp-faces
      ltw-tf benchmark --table 2,3,5 --benchmarks gid-df23,gid-f2f23,gid-fs23,gid-nt23 ...
          Tables 2 and 3 on the c23 splits and the Table 5 ablations, one grid (shared runs train once)
    """
    from ltw_tf.benchmarks import get_benchmark
    from ltw_tf.study import records, run_state, run_study
    from ltw_tf.tables import build_table, to_markdown, write_table

    start = time.perf_counter()
    overrides = {
        "data.data_root": data_root,
        "model.weights": weights,
        "model.image_size": image_size,
        "model.bn_momentum": bn_momentum,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.steps_per_epoch": steps_per_epoch,
    }
    plan, cells = _plan(tables, methods, benchmarks, backbones, seeds, overrides, config_file, runs_dir)
    several = len({c.backbone for c in cells}) > 1
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))

    if dry_run:
        states = [run_state(c) for c in cells]
        plan = [
            {
                "method": c.method,
                "benchmark": c.benchmark,
                "seed": c.seed,
                "backbone": c.backbone,
                "run_dir": str(c.run_dir),
                "action": s.action,
                "epochs_done": s.epochs_done,
                "eval_cached": s.eval_cached,
                "detail": s.detail,
            }
            for c, s in zip(cells, states)
        ]
        if as_json:
            click.echo(json.dumps({"runs": plan}, indent=2))
            return
        for k, (cell, state) in enumerate(zip(cells, states), start=1):
            note = state.detail or ("eval cached" if state.eval_cached else "")
            click.echo(
                f"[{k}/{len(cells)}] {_coordinates(cell, several)}: {state.action}"
                + (f" ({note})" if note else "")
                + f" -> {cell.run_dir}"
            )
        counts = {a: sum(s.action == a for s in states) for a in ("reuse", "resume", "train", "conflict")}
        conflicts = f", {counts['conflict']} in conflict" if counts["conflict"] else ""
        click.echo(
            f"{len(cells)} runs: {counts['reuse']} reusable without training, {counts['resume']} to resume, "
            f"{counts['train']} to train{conflicts}"
        )
        return

    def report(k: int, n: int, result) -> None:
        if quiet and result.status != "failed":
            return
        what = f"[{k}/{n}] {_coordinates(result.cell, several)}: {result.status}"
        if result.status == "failed":
            click.echo(f"{what} after {result.seconds:.1f} s: {result.error}", err=True)
        else:
            cached = ", eval cached" if result.eval_cached else ""
            click.echo(f"{what}{cached} ({result.seconds:.1f} s) -> {result.cell.run_dir}", err=True)

    results = run_study(cells, progress=not quiet, on_result=report)
    built = []
    for table, (table_methods, table_benchmarks, table_backbones) in plan:
        names = {get_benchmark(b).name for b in table_benchmarks}
        mine = [
            c
            for c in cells
            if c.method in table_methods
            and c.benchmark in names
            and (not table_backbones or c.backbone in table_backbones)
        ]
        one = build_table(
            table,
            records(results),
            methods=list(dict.fromkeys(c.method for c in mine)),
            benchmarks=list(dict.fromkeys(c.benchmark for c in mine)),
            backbones=list(dict.fromkeys(c.backbone for c in mine)),
        )
        built.append((table, one, *write_table(one, Path(out) if out else Path(runs_dir) / "tables")))
    wall = time.perf_counter() - start
    failed = [r for r in results if r.status == "failed"]
    if as_json:
        reports = [
            {
                "table": table,
                "markdown": str(md_path),
                "csv": str(csv_path),
                "rows": [
                    {
                        "labels": list(row.labels),
                        "method": row.method,
                        "backbone": row.backbone,
                        "cells": {
                            f"{g} {m.label}".strip(): {"mean": c.mean, "std": c.std, "n": c.n}
                            for (g, m), c in zip(one.columns, row.cells)
                        },
                    }
                    for row in one.rows
                ],
            }
            for table, one, md_path, csv_path in built
        ]
        click.echo(
            json.dumps(
                {
                    **reports[0],
                    "wall_s": round(wall, 3),
                    "failed": len(failed),
                    "runs": [
                        {
                            "method": r.cell.method,
                            "benchmark": r.cell.benchmark,
                            "seed": r.cell.seed,
                            "backbone": r.cell.backbone,
                            "run_dir": str(r.cell.run_dir),
                            "status": r.status,
                            "seconds": round(r.seconds, 3),
                            "eval_cached": r.eval_cached,
                            "error": r.error,
                        }
                        for r in results
                    ],
                    "tables": reports,
                },
                indent=2,
            )
        )
    else:
        click.echo("\n".join(to_markdown(one) for _, one, _, _ in built))
        if not quiet:
            paths = ", ".join(f"{md_path} and {csv_path}" for _, _, md_path, csv_path in built)
            click.echo(f"wrote {paths}; total wall time {wall:.1f} s", err=True)
    if failed:
        click.echo(
            f"{len(failed)} of {len(results)} runs failed: " + "; ".join(_coordinates(r.cell, several) for r in failed),
            err=True,
        )
        ctx.exit(1)
