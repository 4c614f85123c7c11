"""``ltw-tf export [RUN]``: the detector f(theta) as SavedModel + TFLite (fp32 / fp16 / int8) + a model card."""

from __future__ import annotations

import json

import click


@click.command("export")
@click.argument("run", metavar="[RUNDIR|CHECKPOINT]", required=False, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default: RUN/export/).")
@click.option("--savedmodel", is_flag=True, help="Write the SavedModel (signature serving_default).")
@click.option("--tflite", is_flag=True, help="Write .tflite files (variants from --quantize).")
@click.option(
    "--quantize",
    metavar="LIST",
    help="TFLite variants, comma-separated from fp32, fp16, int8 [default: fp32,fp16]; implies --tflite.",
)
@click.option(
    "--calibration",
    type=click.Path(exists=True),
    metavar="MANIFEST",
    help="Prepared root (or its manifest.csv) for int8 calibration and --verify crops "
    "[default: the run's data root: train split of its source domains].",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check every artefact against the Keras model on held-out crops; nothing is written if one fails.",
)
@click.option(
    "--checkpoint",
    "which",
    type=click.Choice(["best", "latest"]),
    default="best",
    show_default=True,
    help="For a run directory: best validation AUC (falls back to latest) or the last epoch.",
)
@click.option("--overwrite", is_flag=True, help="Replace an export already in the output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def export_command(ctx, run, out, savedmodel, tflite, quantize, calibration, verify, which, overwrite, as_json):
    """Export a trained run's detector (never the weight net) for deployment.

    Input: uint8 RGB face crops [N, S, S, 3] named "images"; output: float32 P(fake) [N] named "probability"
    (threshold 0.5). Writes OUT/savedmodel/, OUT/detector_<fp32|fp16|int8>.tflite and OUT/model_card.json
    (sources, metrics, versions, sha256 of every file). Without --savedmodel/--tflite: both; without RUN: the
    newest run under runs/. An existing export is never replaced without --overwrite; files appear only when
    complete. int8 is calibrated on real face crops; its head (logit + sigmoid) and, if parity needs it, its
    worst layers stay float.

    \b
    Examples:
      ltw-tf export --tflite                               newest run, fp32 + fp16 .tflite in RUN/export/
      ltw-tf export runs/gid-fs23-ltw-s0 --verify          SavedModel + fp32/fp16, parity printed
      ltw-tf export runs/gid-fs23-ltw-s0 --quantize fp32,fp16,int8 --verify --out deploy/
      ltw-tf export runs/x/best/ckpt-4 --quantize int8 --calibration data/ffpp-faces --overwrite
    """
    from export import export_run, plan_export
    from ltw_tf.runs import DEFAULT_RUNS_DIR, latest_run

    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    if run is None:
        run = latest_run(DEFAULT_RUNS_DIR)
        click.echo(f"exporting the newest run: {run}", err=True)
    try:
        plan = plan_export(
            run,
            out=out,
            savedmodel=savedmodel,
            tflite=tflite,
            quantize=quantize,
            calibration=calibration,
            verify=verify,
            overwrite=overwrite,
            which=which,
        )
    except ValueError as err:
        if str(err).startswith("unknown quantization"):
            raise click.BadParameter(str(err), param_hint="--quantize") from None
        raise
    say = (lambda line: None) if quiet or as_json else (lambda line: click.echo(line, err=True))
    result = export_run(plan, say=say)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    for key, path in result["artefacts"].items():
        click.echo(f"{key:<12} {path}")
    if result["parity"] is not None:
        from export.verify import format_parity

        click.echo("parity vs the Keras model:")
        for line in format_parity(result["parity"]):
            click.echo(f"  {line}")
