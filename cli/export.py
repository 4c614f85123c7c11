"""``ltw-tf export``: (being built)."""

from __future__ import annotations

import click


@click.command("export")
def export_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf export is not built yet")
