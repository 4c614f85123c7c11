"""``ltw-tf evaluate``: (being built)."""

from __future__ import annotations

import click


@click.command("evaluate")
def evaluate_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf evaluate is not built yet")
