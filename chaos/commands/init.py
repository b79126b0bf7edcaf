"""``aftershock init [DIR]``: copy the shipped example experiments into DIR (default
``./experiments``) so a new user starts from working files. Existing files are never
overwritten unless ``--force``. Registered lazily by ``chaos.cli``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from chaos.bundled import examples_dir
from chaos.errors import InvalidInput, Problem


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("experiments"))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Write the example experiments into DIRECTORY (default: ./experiments)."""
    sources = sorted(examples_dir().glob("*.yaml"))
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(Problem(f"{directory}: exists and is not a directory"))
    clashes = [directory / s.name for s in sources if (directory / s.name).exists()]
    if clashes and not force:
        raise InvalidInput(Problem(f"{directory}: {len(clashes)} file(s) already exist "
                                   f"({', '.join(c.name for c in clashes[:3])}{'…' if len(clashes) > 3 else ''})",
                                   hint="pick another directory, or pass --force to overwrite them"))
    directory.mkdir(parents=True, exist_ok=True)
    for source in sources:
        shutil.copyfile(source, directory / source.name)
        click.echo(f"wrote {directory / source.name}")
    click.echo(f"\n{len(sources)} example experiments in {directory}/. Next:\n"
               f"  aftershock validate {directory}/*.yaml\n"
               f"  aftershock compile {directory}/payment-latency.yaml     # Chaos Mesh objects\n"
               f"  aftershock run {directory}/payment-latency.yaml --dry-run\n"
               f"  aftershock demo                                # the demo-*.yaml ones, on this host\n"
               f"  aftershock tui --experiments {directory}")
