"""``aftershock validate``: experiment and GameDay files checked without injecting anything (exit 2
on any problem).

Registered lazily by ``chaos.cli``; the loader is imported with this module (``chaos.cli`` imports a
command's module with the cyclic GC paused, which is most of ``validate``'s start-up).
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from typing import Any

import click

from chaos.commands.options import format_option, parse_sets, set_option
from chaos.errors import InvalidExperiment, Problem
from chaos.gameday.loading import LoadedGameDay, as_gameday, load_document


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@set_option
@format_option("text: one line per file; json: every file with its problems.")
def validate(files: tuple[str, ...], sets: tuple[str, ...], output: str) -> None:
    """Validate experiment and GameDay FILES; exit 2 when any is invalid."""
    # the process ends when it has answered and holds nothing that needs finalising (no files, sockets
    # or loops): the interpreter's last cyclic collection over the model's ~10^5 objects (~20 ms, ~10 %
    # of the command) is skipped by freezing them at exit, before that collection runs (Python does not
    # promise finalisers at exit anyway); registered once however often the command runs in a process
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    # a short command that builds the model's validators on first use: the cyclic GC stays paused
    # while it runs (~5 % of it), and collects again after (callers in-process: tests)
    collecting = gc.isenabled()
    gc.disable()
    try:
        _validate(files, sets, output)
    finally:
        if collecting:
            gc.enable()


def _validate(files: tuple[str, ...], sets: tuple[str, ...], output: str) -> None:
    overrides = parse_sets(sets)
    results: list[dict[str, Any]] = []
    scheduled: list[LoadedGameDay] = []
    for path in files:
        try:
            loaded = load_document(path, overrides=overrides)
        except InvalidExperiment as exc:
            results.append({"file": path, "valid": False, "problems": [p.as_dict() for p in exc.problems]})
            if output == "text":
                for problem in exc.problems:
                    click.echo(f"✗ {problem.render()}", err=True)
            continue
        if isinstance(loaded, LoadedGameDay):
            if loaded.gameday.spec.schedule is not None:
                scheduled.append(loaded)
            names = [x.experiment.name for x in loaded.experiments]
            results.append({"file": path, "valid": True, "kind": "GameDay", "name": loaded.name,
                            "experiments": names, "problems": []})
            if output == "text":
                click.echo(f"✓ {path}: game day {loaded.name} ({len(names)} experiment(s) valid: {', '.join(names)})")
            continue
        exp = loaded.experiment
        if exp.spec.schedule is not None:
            scheduled.append(as_gameday(loaded))
        unusable = _unusable_here(exp, path)
        if unusable:
            results.append({"file": path, "valid": False, "problems": [p.as_dict() for p in unusable]})
            if output == "text":
                for problem in unusable:
                    click.echo(f"✗ {problem.render()}", err=True)
            continue
        results.append({"file": path, "valid": True, "name": exp.name, "target": exp.spec.target.type,
                        "faults": [f.name for f in exp.spec.faults], "problems": []})
        if output == "text":
            click.echo(f"✓ {path}: {exp.name} ({exp.spec.target.type}, {len(exp.spec.faults)} fault(s), "
                       f"{len(exp.spec.slos)} SLO(s), {len(exp.spec.policies)} polic"
                       f"{'y' if len(exp.spec.policies) == 1 else 'ies'})")
    conflicts = _conflicts(scheduled)
    for conflict in conflicts:
        if output == "text":
            shown = conflict.describe().replace(conflict.experiment, os.path.relpath(conflict.experiment))
            click.echo(f"! schedules: {shown}", err=True)
    if output == "json":
        click.echo(json.dumps(results if not conflicts else
                              {"files": results, "conflicts": [{"experiment": c.experiment, "at": c.at,
                                                                "schedules": list(c.schedules)}
                                                               for c in conflicts]}, indent=2))
    if not all(r["valid"] for r in results):
        sys.exit(2)


def _unusable_here(exp: Any, path: str) -> list[Problem]:
    """What a fault kind that runs its own code says cannot run here (e.g. a Chaos Toolkit action whose
    Python driver is not importable, with the package that provides it)."""
    from chaos import registry

    out: list[Problem] = []
    for index, fault in enumerate(exp.spec.faults):
        kind = registry.faults.get(fault.type)
        custom = kind.host.custom if kind is not None and kind.host is not None else None
        check = getattr(custom, "problems", None)
        if custom is None or check is None:
            continue
        out += [Problem(message, path=f"spec.faults[{index}]", file=path) for message in check(custom.plan(fault))]
    return out


def _conflicts(scheduled: list[LoadedGameDay]) -> list[Any]:
    """The same experiment fired twice at the same time by two of the validated schedules."""
    if len(scheduled) < 2:
        return []
    import time

    from chaos.gameday.decide import schedule_conflicts

    return schedule_conflicts([describe_schedule(lgd) for lgd in scheduled], time.time())


def describe_schedule(lgd: LoadedGameDay) -> tuple[str, Any, list[str]]:
    """``(description, schedule, experiment files)`` of a game day or an experiment's own schedule."""
    assert lgd.gameday.spec.schedule is not None
    what = (f"its own spec.schedule ({lgd.source})" if lgd.from_experiment
            else f"game day {lgd.name} ({lgd.source})")
    return what, lgd.gameday.spec.schedule, [os.path.realpath(x.source) for x in lgd.experiments]
