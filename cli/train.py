"""``ltw-tf train BENCHMARK``: train one method on one benchmark from a prepared data root."""

from __future__ import annotations

import json
from pathlib import Path

import click

BACKBONE_HELP = (
    "efficientnet_b0 (default), efficientnet_b2, efficientnet_b4, efficientnet_lite0/1/2 (int8-friendly, "
    "offline ImageNet weights), xception, resnet50, vgg19, tiny"
)


def default_run_dir(benchmark: str, method: str, seed: int) -> Path:
    return Path("runs") / f"{benchmark}-{method}-s{seed}"


@click.command("train")
@click.argument("benchmark")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="Prepared faces (manifest.csv). Default: data.data_root of --config, else $LTW_DATA_ROOT.",
)
@click.option(
    "--method",
    help="ltw (default), alltrain, focal, mldg, forensic-transfer, multi-task (needs manipulation masks: synth "
    "--masks), basemodel (trains nothing), ltw-no-icc, ltw-no-weight, ltw-no-meta-test (LTW for --epochs, then as "
    "many epochs of retraining), ltw-step-split (diagnostic, not in the paper: LTW with MLDG's per-step meta-split).",
)
@click.option("--backbone", help=BACKBONE_HELP + ".")
@click.option(
    "--weights",
    help="none | imagenet (default; Keras downloads once, Lite0/1/2 offline) | PATH to backbone .weights.h5.",
)
@click.option("--image-size", type=click.IntRange(16, 1024), help="Input size in pixels (paper: 224).")
@click.option(
    "--bn-momentum",
    type=click.FloatRange(0, 1, max_open=True),
    help="BatchNorm moving-statistics momentum (default: the backbone's, 0.99 for EfficientNet); 0.9 for "
    "short runs from random init.",
)
@click.option("--epochs", type=click.IntRange(1), help="Epochs (default 10; of each phase for ltw-no-meta-test).")
@click.option("--batch-size", type=click.IntRange(2), help="Batch size (paper: 25).")
@click.option("--steps-per-epoch", type=click.IntRange(1), help="Cap the steps of each epoch.")
@click.option("--seed", type=int, help="The one seed of the run (default 0).")
@click.option(
    "--strategy",
    help="default (one device), mirrored (all GPUs of this host) or multiworker "
    "(hosts from $TF_CONFIG); see docs/DISTRIBUTED.md.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON/YAML file with model/data/train sections; flags override it.",
)
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default runs/BENCH-METHOD-sSEED).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
@click.pass_context
def train(
    ctx,
    benchmark,
    data_root,
    method,
    backbone,
    weights,
    image_size,
    bn_momentum,
    epochs,
    batch_size,
    steps_per_epoch,
    seed,
    strategy,
    config_file,
    out,
    resume,
    as_json,
):
    """Train a detector on BENCHMARK (gid-df23 ... gid-nt40, gcd) with the paper's defaults.

    \b
    Examples:
      ltw-tf train gid-fs23 --data-root data/ffpp-faces
      LTW_DATA_ROOT=data/synthff-faces ltw-tf train gid-df23 --method alltrain --backbone tiny \\
          --weights none --image-size 64 --epochs 2
      ltw-tf train gid-fs23 --out runs/gid-fs23-ltw-s0 --resume
      ltw-tf train gid-fs23 --data-root data/ffpp-faces --strategy mirrored
    """
    from ltw_tf.config import load_config
    from ltw_tf.distribute import make_strategy
    from ltw_tf.run import build_trainer

    flags = {
        "data.benchmark": benchmark,
        "data.data_root": data_root,
        "train.method": method,
        "model.backbone": backbone,
        "model.weights": weights,
        "model.image_size": image_size,
        "model.bn_momentum": bn_momentum,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.steps_per_epoch": steps_per_epoch,
        "train.seed": seed,
        "train.strategy": strategy,
    }
    config = load_config(config_file, {k: v for k, v in flags.items() if v is not None})
    run_dir = Path(out) if out else default_run_dir(config.data.benchmark, config.train.method, config.train.seed)
    if resume and not (run_dir / "checkpoints").is_dir():
        raise click.UsageError(f"--resume: {run_dir} has no checkpoints to resume")
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    make_strategy(config.train.strategy)  # multiworker: before any TensorFlow op, the data pipeline's included
    trainer = build_trainer(config, run_dir, progress=not quiet)
    if not quiet and not as_json:
        click.echo(
            f"training {config.train.method} on {config.data.benchmark} ({config.model.backbone}, "
            f"{config.model.image_size}px, {trainer.total_epochs} epochs) -> {run_dir}",
            err=True,
        )
    history = trainer.fit(resume=resume)
    summary = {
        "run_dir": str(run_dir),
        "benchmark": config.data.benchmark,
        "method": config.train.method,
        "epochs": trainer.total_epochs,
        "last": history[-1] if history else None,
        # the model best/ holds: the best of the last phase (ltw-no-meta-test's phase 1 is not its model)
        "best_val_auc": float(trainer.best_auc.numpy()) if any("val" in h for h in history) else None,
        "checkpoint": trainer.manager.latest_checkpoint,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        best = summary["best_val_auc"]
        click.echo(
            f"done: {trainer.total_epochs} epochs, best val AUC {best:.4f}"
            if best is not None
            else f"done: {trainer.total_epochs} epochs"
        )
        click.echo(f"checkpoint: {summary['checkpoint']}")
