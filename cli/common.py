"""Shared CLI plumbing: one-line errors with exit codes (0 ok, 1 failed work, 2 bad usage), verbosity."""

from __future__ import annotations

import logging
import sys
import traceback

import click

from ltw_tf.cluster import ENGINES  # the module imports Ray only when asked for it
from ltw_tf.native_logs import quiet_tensorflow

# Errors a user can act on: printed as one line, exit code 1.
EXPECTED = (ValueError, FileNotFoundError, FileExistsError, PermissionError, RuntimeError, OSError)


class Group(click.Group):
    """A click group that turns library errors into one-line messages (tracebacks only with -v)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            if not isinstance(err, EXPECTED) and not _tensorflow_error(err):
                raise
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            text = getattr(err, "message", None) if _tensorflow_error(err) else None
            text = str(text or err).strip()
            message = text.splitlines()[0] if text else type(err).__name__
            raise click.ClickException(message) from None


def _tensorflow_error(err: BaseException) -> bool:
    """A TensorFlow op error (a file TensorFlow could not read, a corrupt checkpoint): one line, exit 1."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(err, tf.errors.OpError)


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Library INFO logs with -v, warnings by default, errors only with --quiet. TensorFlow's and LiteRT's
    native start-up lines only with -v (``ltw_tf.native_logs``). Runs before TensorFlow's first import and does not
    import it (its Python logger is ``logging.getLogger("tensorflow")``): commands that never need TensorFlow,
    usage errors and ``--help`` start without it."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    quiet_tensorflow(verbose)
    logging.getLogger("tensorflow").setLevel(logging.WARNING if verbose else logging.ERROR)
    logging.getLogger("ltw_tf").setLevel(logging.INFO if verbose else level)


def engine_options(command):
    """``--engine local|ray`` and ``--address``: where ``prepare`` and ``screen`` do their per-item work."""
    command = click.option(
        "--address",
        metavar="ADDR",
        help="With --engine ray: the cluster to use (its head's host:port, or 'auto' on a cluster node). "
        "Default: $RAY_ADDRESS, else a Ray started on this machine for the run.",
    )(command)
    return click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="local",
        show_default=True,
        help="local: this machine. ray: actors on a Ray cluster, one per worker CPU, each with its own MTCNN "
        "(and model); needs the ray extra and paths every node can read.",
    )(command)


def check_engine(engine: str, address: str | None) -> None:
    """Usage errors of the engine options, and the one-line error of a missing ray extra, before any work."""
    if address and engine != "ray":
        raise click.UsageError("--address is the Ray cluster's: add --engine ray")
    if engine == "ray":
        from ltw_tf.cluster import RayUnavailable, require_ray

        try:
            require_ray()
        except RayUnavailable as err:
            raise click.ClickException(str(err)) from None
