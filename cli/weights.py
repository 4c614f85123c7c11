"""``ltw-tf weights``: (being built)."""

from __future__ import annotations

import click


@click.command("weights")
def weights_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf weights is not built yet")
