"""``ltw-tf demo``: (being built)."""

from __future__ import annotations

import click


@click.command("demo")
def demo_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf demo is not built yet")
