"""``ltw-tf``: the command group. Commands stay thin: parse, call ``ltw_tf``, print, set the exit code."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import click  # noqa: E402

from ltw_tf import __version__  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ltw-tf")
def main() -> None:
    """Learning-to-Weight (Sun et al., AAAI 2021) for domain-general face-forgery detection.

    \b
    Examples:
      ltw-tf info            what this install offers (methods, backbones, versions)
      ltw-tf info --json
    """


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


if __name__ == "__main__":
    main()
