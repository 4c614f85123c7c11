"""``ltw-tf demo``: the whole tool on synthff, end to end, with no download.

synth -> prepare -> benchmark (train LTW and Alltrain on one GID split, evaluate) -> evaluate (ROC) -> export
TFLite -> screen one synthetic clip -> summary. Every stage is the ``ltw-tf`` command a user would type, run in
this process and printed before it starts; every stage reuses finished work, so an interrupted demo resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

METHODS = ("alltrain", "ltw")
DEMO_BN_MOMENTUM = 0.9  # 120 steps from random init: with 0.99 the moving statistics stay stale and inference
# mode gave every face P(fake) 0.492-0.493 (measured on the fresh-clone demo, docs/RESULTS.md)


def _run_stage(ctx: click.Context, title: str, args: list[str], timings: dict) -> None:
    """Run ``ltw-tf ARGS`` in this process (same error handling as the command line)."""
    from cli.main import main

    if not ctx.obj.get("quiet"):
        click.echo(f"\n== {title}: ltw-tf {' '.join(args)}", err=True)
    start = time.perf_counter()
    flags = ["--quiet"] if ctx.obj.get("quiet") else []
    with main.make_context("ltw-tf", flags + args, parent=ctx.parent) as sub:
        main.invoke(sub)
    timings[title] = time.perf_counter() - start
    import keras

    keras.backend.clear_session()  # free the stage's graphs before the next one


def _clip(synth_dir: Path) -> Path:
    """A held-out test video of the benchmark's unseen family (FaceSwap for gid-fs23) to screen."""
    splits = json.loads((synth_dir / "splits" / "test.json").read_text())
    target, source = splits[0]
    for candidate in sorted((synth_dir / "manipulated_sequences" / "FaceSwap" / "c23" / "videos").glob("*.mp4")):
        if candidate.stem in (f"{target}_{source}", f"{source}_{target}"):
            return candidate
    raise FileNotFoundError(f"no FaceSwap test clip for pair {target}_{source} under {synth_dir}")


@click.command("demo")
@click.option(
    "--out",
    default="demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for everything the demo makes (data, runs, tables, export, screening).",
)
@click.option(
    "--preset",
    type=click.Choice(["small", "default"]),
    default="default",
    show_default=True,
    help="synthff size (small: seconds, for tests; default: 400 videos of c23, the demo's data).",
)
@click.option("--benchmark", default="gid-fs23", show_default=True, help="GID split to train and test on.")
@click.option("--backbone", default="efficientnet_lite0", show_default=True, help="Detector backbone.")
@click.option(
    "--weights",
    default=None,
    help="Backbone init: imagenet | none. Default: imagenet when the backbone has offline ImageNet weights "
    "(efficientnet_lite0/1/2, from a pinned package: no download), else none.",
)
@click.option("--image-size", type=click.IntRange(16, 1024), default=64, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=2, show_default=True)
@click.option("--batch-size", type=click.IntRange(2), default=16, show_default=True)
@click.option(
    "--steps-per-epoch",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Cap on the steps of each epoch (keeps the demo within minutes on a CPU).",
)
@click.option("--frames", type=click.IntRange(1), default=4, show_default=True, help="Frames per video to prepare.")
@click.pass_context
def demo_command(
    ctx, out, preset, benchmark, backbone, weights, image_size, epochs, batch_size, steps_per_epoch, frames
):
    """Run the whole tool on synthetic data: synth, prepare, train LTW and Alltrain, evaluate, export, screen.

    Nothing is downloaded: EfficientNet-Lite0 starts from ImageNet weights shipped in a pinned package. Synthetic
    numbers say the tool works end to end; they are not FaceForensics++ results. Rerunning reuses every stage.

    \b
    Examples:
      ltw-tf demo                                   the full demo (about 7 min on 2 idle cores; docs/RESULTS.md)
      ltw-tf demo --preset small --backbone tiny    a one-minute smoke run
    """
    from ltw_tf.models.pretrained import SOURCES
    from ltw_tf.study import plan_study

    weights = weights or ("imagenet" if backbone in SOURCES else "none")
    start = time.perf_counter()
    out = Path(out)
    synth_dir, faces_dir, runs_dir = out / "synthff", out / "synthff-faces", out / "runs"
    timings: dict[str, float] = {}
    _run_stage(ctx, "synth", ["synth", str(synth_dir), "--preset", preset, "--qualities", "c23"], timings)
    _run_stage(
        ctx,
        "prepare",
        [
            "prepare",
            str(synth_dir),
            "--dataset",
            "synthff",
            "--out",
            str(faces_dir),
            "--qualities",
            "c23",
            "--frames",
            str(frames),
            "--size",
            "128",
        ],
        timings,
    )
    # one set of settings: the benchmark stage's flags (section.key -> --key) and the plan that finds its runs
    overrides = {
        "data.data_root": str(faces_dir),
        "model.backbone": backbone,
        "model.weights": weights,
        "model.image_size": image_size,
        "model.bn_momentum": DEMO_BN_MOMENTUM,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.steps_per_epoch": steps_per_epoch,
    }
    train_flags = [
        arg for key, value in overrides.items() for arg in ("--" + key.split(".")[1].replace("_", "-"), str(value))
    ]
    tables = out / "tables"
    _run_stage(
        ctx,
        "train + evaluate",
        [
            "benchmark",
            "--methods",
            ",".join(METHODS),
            "--benchmarks",
            benchmark,
            "--seeds",
            "0",
            "--runs-dir",
            str(runs_dir),
            "--out",
            str(tables),
            *train_flags,
        ],
        timings,
    )
    runs = {c.method: c.run_dir for c in plan_study(METHODS, [benchmark], [0], overrides=overrides, runs_dir=runs_dir)}
    ltw_run = runs["ltw"]
    _run_stage(ctx, "evaluate (ROC)", ["evaluate", str(ltw_run)], timings)
    export_dir = out / "export" / ltw_run.name  # per run: a retrained LTW run is never screened with an old export
    model = export_dir / "detector_fp32.tflite"
    if not model.is_file():
        _run_stage(
            ctx,
            "export",
            ["export", str(ltw_run), "--tflite", "--quantize", "fp32", "--out", str(export_dir), "--overwrite"],
            timings,
        )
    clip = _clip(synth_dir)
    screening = out / "screen.jsonl"
    _run_stage(
        ctx, "screen", ["screen", str(clip), "--model", str(model), "--json", str(screening), "--overwrite"], timings
    )
    init = f"{backbone}, {'ImageNet' if weights == 'imagenet' else 'random-init' if weights == 'none' else weights}"
    _summary(benchmark, runs, tables, export_dir, clip, screening, timings, time.perf_counter() - start, init)


def _in_domain_auc(run_dir: Path) -> float:
    """The validation AUC (source domains, frame level) of the epoch the run kept as best."""
    history = json.loads((run_dir / "history.json").read_text())
    return max(record["val"]["auc"] for record in history if "val" in record)


def _summary(benchmark, runs, tables, export_dir, clip, screening, timings, wall, init) -> None:
    click.echo(f"\n== summary (synthff, {init} backbone: a demonstration, not FF++ results)")
    for method, run_dir in runs.items():
        click.echo(f"{method:>9} in-domain (val, source families): frame AUC {_in_domain_auc(run_dir):.3f}")
        report = json.loads((run_dir / "eval" / f"{benchmark}.json").read_text())
        for target, result in report["targets"].items():
            f, v = result["frame"], result["video"]
            click.echo(
                f"{method:>9} on held-out {target}: frame ACC {f['acc']:.3f} AUC {f['auc']:.3f} "
                f"EER {f['eer']:.3f} LogLoss {f['logloss']:.3f} | video AUC {v['auc']:.3f}  ({run_dir})"
            )
    lines = [json.loads(line) for line in screening.read_text().splitlines() if line.strip()]
    for item in lines:
        if item["status"] != "ok":
            click.echo(f"screened {clip.name}: error {item['error']}")
            continue
        click.echo(
            f"screened {clip.name} (a held-out FaceSwap fake): verdict {item['verdict']}, mean P(fake) "
            f"{item['score']}, {item['frames_scored']} frames scored -> {screening}"
        )
    click.echo(
        f"tables:  {tables}/\nexport:  {export_dir}/\nstages:  "
        + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
        + f"\ntotal:   {wall:.0f} s"
    )
