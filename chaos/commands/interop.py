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


def read_documents(path: str) -> list[tuple[object, dict[tuple[str | int, ...], int]]]:
    """The documents of a file to import (JSON, or YAML with ``---`` between objects), each with its
    field → line map; bounded (size, depth, nodes after aliases: an alias bomb is refused at once)."""
    from chaos.loading import read_text_file
    from chaos.loading.yaml_tree import parse_yaml_documents

    text = read_text_file(path, what="a file to import")
    if path.endswith(".json"):
        from chaos import strict_json

        try:
            return [(strict_json.loads(text), {})]
        except strict_json.StrictJsonError as exc:
            raise InvalidInput(Problem(str(exc), file=path, line=exc.line)) from None
    return parse_yaml_documents(text, path)


def ctk_document(documents: list[tuple[object, dict[tuple[str | int, ...], int]]], path: str) -> dict[str, object]:
    """The one document of a CTK experiment file; exit 2 with a clear message otherwise."""
    document = documents[0][0] if len(documents) == 1 else None
    if not isinstance(document, dict) or not ("method" in document or "title" in document):
        raise InvalidInput(Problem("not a Chaos Toolkit experiment (a mapping with title and method) nor Chaos "
                                   "Mesh objects", file=path,
                                   hint="aftershock import reads Chaos Toolkit experiments and Chaos Mesh objects; "
                                        "aftershock validate reads Aftershock ones"))
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
@click.option("--allow-credentials-to", "allowed_hosts", multiple=True, metavar="HOST",
              help="Accept that the file sends credentials to HOST (otherwise such a file is refused).")
def import_cmd(file: str, out: str | None, name: str | None, allowed_hosts: tuple[str, ...]) -> None:
    """Convert a Chaos Toolkit experiment or Chaos Mesh object(s) FILE to an Aftershock experiment.

    Exit 0: everything converted; 1: written, with parts left out (listed); 2: nothing runnable
    remains, or the file is unreadable or sends credentials off this host (nothing written)."""
    import yaml

    from chaos.interop.chaosmesh_import import STUBS, convert_objects, is_chaos_mesh
    from chaos.interop.ctk_credentials import leaks
    from chaos.interop.ctk_import import Converted, convert, finish
    from chaos.loading import load_parsed

    documents = read_documents(file)
    lines: dict[tuple[str | int, ...], int] = {}
    present = [d for d, _ in documents if d is not None]
    result: Converted
    if present and all(is_chaos_mesh(d) for d in present):
        result = convert_objects([d for d, _ in documents], source=file, name=name)
        stubs = STUBS
    else:
        document = ctk_document(documents, file)
        lines = documents[0][1]
        found = [leak for leak in leaks(document) if leak.host not in allowed_hosts]
        if found:
            raise InvalidExperiment([Problem(f"{leak.render()}: a credential would leave this host", file=file,
                                             line=_line(lines, leak.where), hint=f"if {leak.host} is where it "
                                             f"belongs: aftershock import --allow-credentials-to {leak.host}")
                                     for leak in found] + [Problem("refused; nothing was written", file=file)])
        result = convert(document, source=file, name=name, fallback=_ctk_kinds_available())
        stubs = ""

    def validate(doc: dict[str, object], environ: dict[str, str]) -> list[Problem]:
        try:
            load_parsed(doc, {}, f"{file} (converted)", environ=environ)
        except InvalidExperiment as exc:
            return exc.problems
        return []

    fatal = finish(result, validate)

    def report() -> None:
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        for item in result.skipped:
            at = lines.get(item.path) if item.path and lines else None
            click.echo(f"not converted: {file}{f':{at}' if at else ''}: {item.render()}", err=True)

    if fatal:
        report()
        raise InvalidExperiment([Problem(f"the converted experiment: {p.path + ': ' if p.path else ''}{p.message}",
                                         file=file, hint=p.hint) for p in fatal]
                                + [Problem("nothing was written", file=file)])
    if result.outcome == "refused":
        report()
        left = len(result.skipped)
        raise InvalidExperiment(Problem(
            f"nothing runnable remains: none of its actions or objects converted to a fault "
            f"({left} part(s) not converted, listed above); nothing was written", file=file))
    text = yaml.safe_dump(result.experiment, sort_keys=False, allow_unicode=True)
    if stubs:
        text += "".join(f"  {line}\n" if line else "\n" for line in stubs.splitlines())
    _write(text, out)
    report()
    if result.skipped:
        click.echo(f"{file}: converted with {len(result.skipped)} part(s) left out (listed above)", err=True)
    sys.exit(1 if result.skipped else 0)


def _line(lines: dict[tuple[str | int, ...], int], where: str) -> int | None:
    import re

    match = re.match(r"^([a-z.-]+)\[(\d+)\]", where)
    if not match:
        return None
    path: tuple[str | int, ...] = (*match.group(1).split("."), int(match.group(2)))
    return lines.get(path) if path in lines else None


def _ctk_kinds_available() -> bool:
    """Whether the ``chaostoolkit`` fault kind is installed (import maps what has no native form to it)."""
    import chaos.model  # noqa: F401  (the registry is read once the model's unions are built)
    from chaos import registry

    return registry.faults.get("chaostoolkit") is not None
