"""The ``aftershock`` command line: the group, its lazily loaded commands, and the one place
where :class:`~chaos.errors.ChaosError` becomes a message on stderr and an exit code.

Exit codes follow the verdict table of the experiment format: 0 passed/valid, 1 breached or
deviated/failed/unsteady, 2 invalid input, 3 platform error, 130 aborted.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click

from chaos import __version__
from chaos.errors import ChaosError, InvalidExperiment, InvalidInput, Problem

# name -> "module:attribute"; modules are imported only when their command runs.
COMMANDS: dict[str, str] = {
    "validate": "chaos.cli:validate",
    "compile": "chaos.cli:compile_cmd",
    "check": "chaos.commands.check:check",
    "run": "chaos.commands.run:run",
    "demo": "chaos.commands.demo:demo",
    "recover": "chaos.commands.recover:recover",
    "runs": "chaos.commands.history:runs",
    "show": "chaos.commands.history:show",
    "report": "chaos.commands.history:report",
    "doctor": "chaos.commands.doctor:doctor",
    "rbac": "chaos.commands.rbac:rbac",
    "tui": "chaos.commands.tui:tui",
    "proxy": "chaos.commands.proxy:proxy",
}


class AftershockGroup(click.Group):
    """Lazily loaded subcommands; ChaosError → message + exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self.get_command(ctx, name) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("chaos.commands"):
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InvalidExperiment as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem.render()}", err=True)
            ctx.exit(exc.exit_code)
        except ChaosError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """``--set key=value`` pairs; a malformed one is an :class:`InvalidInput`."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(Problem(f"--set {item!r}: expected key=value", hint="e.g. --set latency=800ms"))
        out[key.strip()] = value
    return out


set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Override a parameter of spec.parameters (repeatable).")


@click.group(cls=AftershockGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aftershock")
def main() -> None:
    """Aftershock: chaos experiments with SLO-driven, graded recovery.

    Describe an experiment in YAML; Aftershock injects its faults (Chaos Mesh on Kubernetes,
    or real host faults), watches Prometheus SLOs while they are live, and answers a breach
    with rollback, degrade or circuit-break.
    """


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@set_option
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(files: tuple[str, ...], sets: tuple[str, ...], output: str) -> None:
    """Validate experiment FILES; exit 2 when any is invalid."""
    from chaos.loading import load_file

    overrides = parse_sets(sets)
    results: list[dict[str, Any]] = []
    for path in files:
        try:
            loaded = load_file(path, overrides=overrides)
        except InvalidExperiment as exc:
            results.append({"file": path, "valid": False, "problems": [p.as_dict() for p in exc.problems]})
            if output == "text":
                for problem in exc.problems:
                    click.echo(f"✗ {problem.render()}", err=True)
            continue
        exp = loaded.experiment
        results.append({"file": path, "valid": True, "name": exp.name, "target": exp.spec.target.type,
                        "faults": [f.name for f in exp.spec.faults], "problems": []})
        if output == "text":
            click.echo(f"✓ {path}: {exp.name} ({exp.spec.target.type}, {len(exp.spec.faults)} fault(s), "
                       f"{len(exp.spec.slos)} SLO(s), {len(exp.spec.policies)} polic"
                       f"{'y' if len(exp.spec.policies) == 1 else 'ies'})")
    if output == "json":
        click.echo(json.dumps(results, indent=2))
    if not all(r["valid"] for r in results):
        sys.exit(2)


@click.command("compile")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out-dir", type=click.Path(file_okay=False), default=None,
              help="Write one YAML file per object into this directory instead of stdout.")
@click.option("--run-id", default=None, help="Run id used in names and labels (default: a fresh one).")
@set_option
def compile_cmd(file: str, out_dir: str | None, run_id: str | None, sets: tuple[str, ...]) -> None:
    """Compile FILE to Chaos Mesh objects (multi-document YAML)."""
    from pathlib import Path

    import yaml

    from chaos.compiling import naming
    from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
    from chaos.loading import load_file

    if run_id is not None and not naming.valid_run_id(run_id):
        raise InvalidInput(Problem(f"--run-id {run_id!r}: 4 to 12 lower-case letters or digits"))
    loaded = load_file(file, overrides=parse_sets(sets))
    objects = compile_experiment(loaded.experiment, run_id or naming.new_run_id(), source=file)
    if out_dir is None:
        click.echo(to_yaml_stream(objects), nl=False)
        return
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        path = directory / f"{obj.kind.lower()}-{obj.name}.yaml"
        path.write_text(yaml.safe_dump(obj.body, sort_keys=False))
        click.echo(str(path))
