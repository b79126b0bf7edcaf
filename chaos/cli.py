"""The ``aftershock`` command line: the group, its lazily loaded commands, and the one place
where :class:`~chaos.errors.ChaosError` becomes a message on stderr and an exit code.

Start-up: a command's module is imported only when that command runs, and ``aftershock --help``
imports none of them (the listing reads :data:`SUMMARIES`); this module (with click) and a command's
module are imported with the cyclic GC paused. Heavy libraries (the Kubernetes client,
Textual, chaoslib, aiohttp) are imported inside the commands and targets that use them;
``tests/cli/test_startup.py`` asserts which modules each command imports.

Exit codes follow the verdict table of the experiment format: 0 passed/valid, 1 breached or
deviated/failed/unsteady, 2 invalid input, 3 platform error, 130 aborted.
"""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()
gc.disable()  # importing click builds ~10^4 long-lived objects: ~20 cyclic GC passes over them (~20 ms)

import importlib  # noqa: E402  (after the pause; collecting resumes at the end of this module)
import importlib.util  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from chaos.version import __version__  # noqa: E402

# Before it builds its first validator, pydantic looks for plugins in the entry points of every
# installed distribution (~5 ms of every command that loads a file); Aftershock uses none, so the
# aftershock process turns the lookup off with pydantic's own switch, unless the environment sets it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

# name -> "module:attribute"; modules are imported only when their command runs.
COMMANDS: dict[str, str] = {
    "validate": "chaos.commands.validate:validate",
    "compile": "chaos.commands.compile:compile_cmd",
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
    "schema": "chaos.commands.schema:schema",
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
    "status": "Faults live right now, across state dirs: store records joined with what each injector reports.",
    "rbac": "Print the least-privilege Role(s) and RoleBinding(s) a Kubernetes run of FILE needs.",
    "gameday": "Game days: fire times, run now, the scheduler, pause and resume.",
    "init": "Write the example experiments into a folder to start from.",
    "export": "Export an experiment in another tool's format (Chaos Toolkit).",
    "import": "Convert a Chaos Toolkit experiment into an Aftershock experiment.",
    "schema": "Print the JSON Schema of the experiment or game-day format (for editors).",
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
        collecting = gc.isenabled()
        gc.disable()  # importing builds ~10^5 long-lived objects: cyclic GC passes over them cost ~10 %
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("chaos.commands"):
                return None
            raise
        finally:
            if collecting:
                gc.enable()
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def invoke(self, ctx: click.Context) -> Any:
        from chaos.commands.output import emit_error
        from chaos.errors import ChaosError, InvalidExperiment  # not at import: --help stays light

        try:
            return super().invoke(ctx)
        except InvalidExperiment as exc:
            for problem in exc.problems:
                click.echo(f"error: {problem.render()}", err=True)
            emit_error(ctx, str(exc), exc.exit_code, [
                {"message": p.message, "file": p.file, "line": p.line, "path": p.path, "hint": p.hint}
                for p in exc.problems])
            ctx.exit(exc.exit_code)
        except ChaosError as exc:
            click.echo(f"error: {exc}", err=True)
            emit_error(ctx, str(exc), exc.exit_code)
            ctx.exit(exc.exit_code)


@click.group(cls=AftershockGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aftershock")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-v info, -vv debug).")
@click.option("-q", "--quiet", count=True, help="Fewer log lines on stderr (errors only).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="Log lines on stderr as text or one JSON object each (env AFTERSHOCK_LOG_FORMAT).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, envvar="AFTERSHOCK_CONFIG",
              help="Config file (default $XDG_CONFIG_HOME/aftershock/config.yaml if it exists). "
                   "Flags beat environment variables, which beat the file.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int, log_format: str | None, config_path: str | None) -> None:
    """Aftershock: chaos experiments with SLO-driven, graded recovery.

    Describe an experiment in YAML; Aftershock injects its faults (Chaos Mesh on Kubernetes,
    or real host faults), watches Prometheus SLOs while they are live, and answers a breach
    with rollback, degrade or circuit-break.
    """
    from chaos import config
    from chaos.commands.output import LOGGING_KEY, configure_logging, no_color
    from chaos.errors import InvalidExperiment

    try:
        config.apply(config_path)
    except InvalidExperiment as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem.render()}", err=True)
        ctx.exit(exc.exit_code)
    ctx.meta[LOGGING_KEY] = (verbose, quiet, log_format)
    configure_logging(verbose, quiet, log_format)
    if no_color():
        ctx.color = False


if _COLLECTING:  # this module's import paused the cyclic GC (top of the module)
    gc.enable()
