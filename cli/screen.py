"""``ltw-tf screen``: (being built)."""

from __future__ import annotations

import click


@click.command("screen")
def screen_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf screen is not built yet")
