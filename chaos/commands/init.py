"""``aftershock init [DIR]``: copy the shipped example experiments into DIR (default
``./experiments``) and the example game days next to it (``--gamedays``, default ``DIR/../gamedays``,
their ``file:`` references pointing at DIR) so a new user starts from working files. Existing files
are never overwritten unless ``--force``. Registered lazily by ``chaos.cli``.

The examples' ``# yaml-language-server: $schema=`` modeline points into the repository's
``schemas/``; here it is pointed at ``experiment.schema.json``, written next to them (the output of
``aftershock schema experiment``), so an editor completes and checks the copies too.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from chaos.bundled import examples_dir, gamedays_dir
from chaos.errors import InvalidInput, Problem

SCHEMA_FILE = "experiment.schema.json"
GAMEDAY_SCHEMA_FILE = "gameday.schema.json"
MODELINE = "# yaml-language-server: $schema="


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("experiments"))
@click.option("--gamedays", "gamedays", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the example game days go (default: a gamedays folder next to DIRECTORY).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, gamedays: Path | None, force: bool) -> None:
    """Write the example experiments into DIRECTORY (default: ./experiments) and the example game days
    next to it."""
    sources = sorted(examples_dir().glob("*.yaml"))
    gameday_sources = sorted(gamedays_dir().glob("*.yaml"))
    gamedays = gamedays if gamedays is not None else directory.parent / "gamedays"
    for folder in (directory, gamedays):
        if folder.exists() and not folder.is_dir():
            raise InvalidInput(Problem(f"{folder}: exists and is not a directory"))
    clashes = [directory / name for name in [*(s.name for s in sources), SCHEMA_FILE] if (directory / name).exists()] + \
        [gamedays / s.name for s in gameday_sources if (gamedays / s.name).exists()]
    if clashes and not force:
        raise InvalidInput(Problem(f"{directory}: {len(clashes)} file(s) already exist "
                                   f"({', '.join(c.name for c in clashes[:3])}{'…' if len(clashes) > 3 else ''})",
                                   hint="pick another directory, or pass --force to overwrite them"))
    from chaos.model.schema import json_schema

    directory.mkdir(parents=True, exist_ok=True)
    for source in sources:
        text = source.read_text(encoding="utf-8")
        if text.startswith(MODELINE):
            text = f"{MODELINE}{SCHEMA_FILE}\n" + text.split("\n", 1)[1]
        (directory / source.name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {directory / source.name}")
    (directory / SCHEMA_FILE).write_text(json.dumps(json_schema("experiment"), indent=2) + "\n", encoding="utf-8")
    click.echo(f"wrote {directory / SCHEMA_FILE} (the JSON Schema the examples name for editors)")
    gamedays.mkdir(parents=True, exist_ok=True)
    to_experiments = Path(os.path.relpath(directory.resolve(), gamedays.resolve())).as_posix()
    for source in gameday_sources:
        text = re.sub(r"(file:\s*)\.\./experiments/", lambda m: f"{m.group(1)}{to_experiments}/",
                      source.read_text(encoding="utf-8"))
        if text.startswith(MODELINE):
            text = f"{MODELINE}{GAMEDAY_SCHEMA_FILE}\n" + text.split("\n", 1)[1]
        (gamedays / source.name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {gamedays / source.name}")
    if gameday_sources:
        (gamedays / GAMEDAY_SCHEMA_FILE).write_text(json.dumps(json_schema("gameday"), indent=2) + "\n",
                                                    encoding="utf-8")
        click.echo(f"wrote {gamedays / GAMEDAY_SCHEMA_FILE}")
    click.echo(f"\n{len(sources)} example experiments in {directory}/, {len(gameday_sources)} game days in "
               f"{gamedays}/. Next:\n"
               f"  aftershock validate {directory}/*.yaml\n"
               f"  aftershock compile {directory}/payment-latency.yaml     # Chaos Mesh objects\n"
               f"  aftershock run {directory}/payment-latency.yaml --dry-run\n"
               f"  aftershock demo                                # the demo-*.yaml ones, on this host\n"
               f"  aftershock gameday next {gamedays}/checkout-friday.yaml\n"
               f"  aftershock tui --experiments {directory}")
