"""``ltw-tf``: the command group. Commands stay thin: parse, call ``ltw_tf``, print, set the exit code."""

from __future__ import annotations

import json

import click

# No module imported here imports TensorFlow: configure_logging sets TF_CPP_MIN_LOG_LEVEL (from -v) before the
# first import, which is when TensorFlow reads it (ltw_tf/native_logs.py; checked by
# tests/test_report.py::test_terminal_shows_only_ltw_tf_lines).
from cli.benchmark import benchmark_command
from cli.common import Group, configure_logging
from cli.demo import demo_command
from cli.evaluate import evaluate_command
from cli.export import export_command
from cli.prepare import prepare_command
from cli.screen import screen_command
from cli.synth import synth
from cli.train import train
from cli.weights import weights_command
from ltw_tf import __version__


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ltw-tf")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="More logging (TensorFlow's and LiteRT's own lines too); tracebacks on errors.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter; errors only.")
@click.pass_context
def main(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """Learning-to-Weight (Sun et al., AAAI 2021) for domain-general face-forgery detection.

    \b
    Examples:
      ltw-tf info                                   methods, backbones, versions
      ltw-tf train gid-fs23 --data-root DIR         train LTW on a prepared root
    Exit codes: 0 ok, 1 the work failed, 2 bad usage.
    """
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet exclude each other")
    ctx.obj = {"verbose": verbose, "quiet": quiet}
    configure_logging(verbose, quiet)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def info(as_json: bool) -> None:
    """List training methods, backbones and library versions."""
    import keras
    import tensorflow as tf

    from ltw_tf.methods import METHODS
    from ltw_tf.models import BACKBONES

    report = {
        "ltw_tf": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "methods": list(METHODS),
        "backbones": {name: spec.channels for name, spec in BACKBONES.items()},
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"ltw-tf {__version__} (TensorFlow {report['tensorflow']}, Keras {report['keras']})")
    click.echo(f"methods:   {', '.join(report['methods'])}")
    click.echo("backbones: " + ", ".join(f"{n} (C={c})" for n, c in report["backbones"].items()))
    click.echo(f"GPUs:      {', '.join(report['gpus']) or 'none (CPU)'}")


main.add_command(synth)
main.add_command(prepare_command)
main.add_command(train)
for _command in (evaluate_command, benchmark_command, weights_command, export_command, screen_command, demo_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
