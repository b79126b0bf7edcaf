"""``aftershock schema experiment|gameday``: the JSON Schema of a file format, generated from the
models (:mod:`chaos.model.schema`), for editors and linters. The repository's ``schemas/`` folder
holds this output; the example files point at it with a ``# yaml-language-server: $schema=``
modeline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chaos.commands.options import out_option


@click.command("schema")
@click.argument("kind", type=click.Choice(["experiment", "gameday"]))
@out_option("Write the schema to FILE instead of stdout.")
def schema(kind: str, out: str | None) -> None:
    """Print the JSON Schema of the experiment or game-day format."""
    from chaos.model.schema import json_schema

    text = json.dumps(json_schema("experiment" if kind == "experiment" else "gameday"), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
