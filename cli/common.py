"""Shared CLI plumbing: one-line errors with exit codes (0 ok, 1 failed work, 2 bad usage), verbosity."""

from __future__ import annotations

import logging
import sys
import traceback

import click

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
