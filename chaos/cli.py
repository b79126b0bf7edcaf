"""The ``aftershock`` command line: the group, its lazily loaded commands, and the one place
where :class:`~chaos.errors.ChaosError` becomes a message on stderr and an exit code.

Start-up: a command's module is imported only when that command runs, and ``aftershock --help``
imports none of them (the listing reads :data:`SUMMARIES`). Heavy libraries (the Kubernetes client,
Textual, chaoslib, aiohttp) are imported inside the commands and targets that use them;
``tests/cli/test_startup.py`` asserts which modules each command imports.

Exit codes follow the verdict table of the experiment format: 0 passed/valid, 1 breached or
deviated/failed/unsteady, 2 invalid input, 3 platform error, 130 aborted.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from typing import Any

import click

from chaos.commands.options import format_option, out_option
from chaos.errors import ChaosError, InvalidExperiment, InvalidInput, Problem
from chaos.version import __version__

# name -> "module:attribute"; modules are imported only when their command runs.
COMMANDS: dict[str, str] = {
    "validate": "chaos.cli:validate",
    "compile": "chaos.cli:compile_cmd",
    "check": "chaos.commands.check:check",
    "run": "chaos.commands.run:run",
    "demo": "chaos.commands.demo:demo",
    "recover": "chaos.commands.recover:recover",
    "status": "chaos.commands.status:status",
    "runs": "chaos.commands.history:runs",
    "show": "chaos.commands.history:show",
    "report": "chaos.commands.history:report",
    "doctor": "chaos.commands.doctor:doctor",
    "rbac": "chaos.commands.rbac:rbac",
    "tui": "chaos.commands.tui:tui",
    "gameday": "chaos.commands.gameday:gameday",
    "init": "chaos.commands.init:init",
    "export": "chaos.commands.interop:export",
    "import": "chaos.commands.interop:import_cmd",
}

# name -> one-line help shown by ``aftershock --help`` without importing the command's module
# (a command missing here is imported for the listing: correct, only slower).
SUMMARIES: dict[str, str] = {
    "validate": "Validate experiment FILES; exit 2 when any is invalid.",
    "compile": "Compile FILE to Chaos Mesh objects (multi-document YAML).",
    "check": "Check the steady-state SLOs of experiment FILEs against Prometheus, injecting nothing.",
    "run": "Run experiment FILE: pre-flight, steady state, inject, watch SLOs, recover, verdict.",
    "demo": "Run the embedded demo: real Prometheus, demo services, a real fault, policy recovery.",
    "recover": "Remove faults left behind by runs that are no longer alive.",
    "runs": "List past runs: id, experiment, verdict, start, duration.",
    "show": "Summary, timeline and decisions of one run.",
    "report": "Write a self-contained HTML report of one run (a plot per SLO).",
    "doctor": "Report the host's capabilities for faults and the demo.",
    "tui": "Browse, launch and watch experiments in the terminal (press ? for keys).",
}


class _Listed(click.Command):
    """What ``--help`` lists for a command that is not imported: its name and one-line summary."""

    def __init__(self, name: str, summary: str) -> None:
        super().__init__(name, short_help=summary, help=summary)


class AftershockGroup(click.Group):
    """Lazily loaded subcommands; ChaosError → message + exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._exists(name)]

    @staticmethod
    def _exists(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        try:
            return importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            return False

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing of ``--help``, from :data:`SUMMARIES` (no command module is imported)."""
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(name)
            command = _Listed(name, summary) if summary is not None else self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

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
@format_option("text: one line per file; json: every file with its problems.")
def validate(files: tuple[str, ...], sets: tuple[str, ...], output: str) -> None:
    """Validate experiment and GameDay FILES; exit 2 when any is invalid."""
    from chaos.gameday.loading import LoadedGameDay, load_document

    overrides = parse_sets(sets)
    results: list[dict[str, Any]] = []
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
            names = [x.experiment.name for x in loaded.experiments]
            results.append({"file": path, "valid": True, "kind": "GameDay", "name": loaded.name,
                            "experiments": names, "problems": []})
            if output == "text":
                click.echo(f"✓ {path}: game day {loaded.name} ({len(names)} experiment(s) valid: {', '.join(names)})")
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
@out_option("Write one YAML file per object into this directory instead of stdout.", directory=True)
@click.option("--run-id", default=None, help="Run id used in names and labels (default: a fresh one).")
@set_option
@click.option("--in-cluster", is_flag=True, help="A CronJob (+ ConfigMap, ServiceAccount, Role/RoleBinding, PVC) that "
              "runs FILE's schedule in the cluster (docs/gamedays.md).")
@click.option("--image", default=None, help="--in-cluster: the image built from the Dockerfile.")
@click.option("--journals-url", default=None, help="--in-cluster: POST reports and journals here instead of a PVC.")
def compile_cmd(file: str, out: str | None, run_id: str | None, sets: tuple[str, ...], in_cluster: bool,
                image: str | None, journals_url: str | None) -> None:
    """Compile FILE to Chaos Mesh objects (multi-document YAML)."""
    from pathlib import Path

    import yaml

    from chaos.compiling import naming
    from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
    from chaos.loading import load_file

    if in_cluster:
        from chaos.gameday.incluster import compile_in_cluster_file

        click.echo(compile_in_cluster_file(file, parse_sets(sets), image, journals_url), nl=False)
        return

    if run_id is not None and not naming.valid_run_id(run_id):
        raise InvalidInput(Problem(f"--run-id {run_id!r}: 4 to 12 lower-case letters or digits"))
    loaded = load_file(file, overrides=parse_sets(sets))
    objects = compile_experiment(loaded.experiment, run_id or naming.new_run_id(), source=file)
    if out is None:
        click.echo(to_yaml_stream(objects), nl=False)
        return
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for obj in objects:
        path = directory / f"{obj.kind.lower()}-{obj.name}.yaml"
        path.write_text(yaml.safe_dump(obj.body, sort_keys=False))
        click.echo(str(path))
