"""``ltw-tf benchmark``: (being built)."""

from __future__ import annotations

import click


@click.command("benchmark")
def benchmark_command():
    """(not yet available)"""
    raise click.ClickException("ltw-tf benchmark is not built yet")
