"""``aftershock export`` and ``aftershock import``: experiments to and from Chaos Toolkit.

``export --format chaostoolkit FILE [--out PATH]`` writes the CTK document of
:func:`chaos.interop.ctk.to_ctk_experiment` (JSON, or YAML when PATH ends in .yaml/.yml) and
notes what a Chaos Toolkit run does differently. ``import FILE`` converts a CTK experiment
(:mod:`chaos.interop.ctk_import`) to an Aftershock experiment (YAML), listing every part it could
not convert with the reason; exit 0 when everything converted, 1 when something was not, 2 when
the file cannot be read or converts to no valid experiment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from chaos.commands.options import parse_sets, set_option
from chaos.errors import InvalidExperiment, InvalidInput, Problem

FORMATS = ("chaostoolkit",)


def _write(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise InvalidInput(Problem(f"--out {out}: cannot write: {exc.strerror}")) from exc
    click.echo(f"wrote {path}", err=True)


def read_document(path: str) -> object:
    """A CTK experiment file (JSON or YAML) → its document; exit 2 with a clear message otherwise."""
    from chaos import strict_json
    from chaos.loading import MAX_FILE_BYTES, parse_yaml

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(Problem(f"cannot read: {exc.strerror}", file=path)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(Problem(f"larger than {MAX_FILE_BYTES} bytes", file=path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(Problem(f"not UTF-8 text (byte {exc.start})", file=path)) from exc
    if path.endswith(".json"):
        try:
            document = strict_json.loads(text)
        except strict_json.StrictJsonError as exc:
            raise InvalidInput(Problem(str(exc), file=path, line=exc.line)) from None
    else:
        # bounded like experiment files: depth, and nodes counted after alias expansion (an alias bomb
        # of a few hundred bytes is refused in milliseconds, never expanded)
        document, _lines = parse_yaml(text, path)
    if not isinstance(document, dict) or not ("method" in document or "title" in document):
        raise InvalidInput(Problem("not a Chaos Toolkit experiment (a mapping with title and method)", file=path,
                                   hint="aftershock import reads Chaos Toolkit experiments; aftershock "
                                        "validate reads Aftershock ones"))
    return document


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="chaostoolkit", show_default=True,
              help="Target format.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default: stdout); .yaml/.yml writes YAML, anything else JSON.")
@set_option
def export(file: str, fmt: str, out: str | None, sets: tuple[str, ...]) -> None:
    """Export experiment FILE as a Chaos Toolkit experiment (runs with the real `chaos run`)."""
    from chaos.interop.ctk import export_notes, to_ctk_experiment
    from chaos.loading import load_file

    loaded = load_file(file, overrides=parse_sets(sets))
    document = to_ctk_experiment(loaded.experiment)
    if out is not None and out.endswith((".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(document, sort_keys=False)
    else:
        text = json.dumps(document, indent=2) + "\n"
    _write(text, out)
    for note in export_notes(loaded.experiment):
        click.echo(f"note: {note}", err=True)


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the Aftershock experiment here (default: stdout).")
@click.option("--name", default=None, help="metadata.name of the result (default: from the title or file name).")
def import_cmd(file: str, out: str | None, name: str | None) -> None:
    """Convert Chaos Toolkit experiment FILE (.json/.yaml) to an Aftershock experiment."""
    import yaml

    from chaos.interop.ctk_import import convert
    from chaos.loading import load_text

    document = read_document(file)
    result = convert(document, source=file, name=name)
    text = yaml.safe_dump(result.experiment, sort_keys=False, allow_unicode=True)
    try:
        load_text(text, source=f"{file} (converted)")
    except InvalidExperiment as exc:
        for item in result.skipped:
            click.echo(f"not converted: {item.render()}", err=True)
        raise InvalidExperiment([*exc.problems, Problem(
            "the converted experiment is not valid (see above); nothing was written", file=file)]) from exc
    _write(text, out)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for item in result.skipped:
        click.echo(f"not converted: {item.render()}", err=True)
    sys.exit(1 if result.skipped else 0)
