"""A command module for ``tests/cli/test_startup.py``: records whether the cyclic GC ran while it was imported."""

from __future__ import annotations

import gc

import click

COLLECTING_WHILE_IMPORTED = gc.isenabled()


@click.command("probe")
def probe() -> None:
    """Does nothing."""
