"""``aftershock run FILE``: one experiment, end to end, in the foreground.

Ctrl-C / SIGTERM abort the run: faults are removed first, then everything else; a second
Ctrl-C does not skip cleanup. Exit code from the verdict.

Start-up: the cyclic GC stays paused from the command's start until the first fault is injected (or
the run ends): loading the file and the pre-flight build ~10^5 long-lived objects, and collections
passing over them are CPU spent before the fault (:class:`CollectorPause`).
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path
from typing import Any

import click

from chaos.commands.options import (
    output_option,
    parse_sets,
    pushgateway_option,
    set_option,
    state_dir_option,
    target_options,
)
from chaos.commands.progress import NdjsonPrinter, TextPrinter
from chaos.engine.driver import Engine, EngineSettings
from chaos.engine.events import Event, FaultInjected, RunFinished
from chaos.loading import Loaded


class CollectorPause:
    """The cyclic GC paused from construction until the first fault is injected (an engine listener)
    or :meth:`resume`; then what start-up built is frozen (later collections never pass over it again,
    so none pauses the watch of a live fault for long) and collecting resumes.
    Pausing changes no order: the fault is recorded before it is injected, after the pre-flight and
    the steady-state check, as without it."""

    def __init__(self) -> None:
        self._collecting = gc.isenabled()
        self._paused = True
        gc.disable()

    def __call__(self, event: Event) -> None:
        if isinstance(event, FaultInjected | RunFinished):
            self.resume()

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            gc.freeze()
            if self._collecting:
                gc.enable()


def engine_settings(state_dir: str | None, prometheus: str | None = None, kubeconfig: str | None = None,
                    context: str | None = None, namespace: str | None = None, reaper: bool = True,
                    force: bool = False) -> EngineSettings:

    return EngineSettings(state_dir=Path(state_dir) if state_dir else None, prometheus=prometheus,
                          prometheus_token_file=prometheus_token_file(),
                          kubeconfig=kubeconfig, context=context, namespace=namespace, reaper=reaper, force=force)


def prometheus_token_file() -> str | None:
    """``AFTERSHOCK_PROMETHEUS_TOKEN_FILE``, except the in-cluster Job's mount of the optional
    ``token`` key of its ``--prometheus-secret`` when the Secret has no such key: the kubelet then
    mounts no file, and the Job queries Prometheus without a token. Any other path is kept as given
    (a missing file is an error at the first query, naming it)."""
    import os

    path = os.environ.get("AFTERSHOCK_PROMETHEUS_TOKEN_FILE") or None
    if path is None or os.path.lexists(path):
        return path
    from chaos.gameday.incluster import PROMETHEUS_SECRET_MOUNT

    return None if Path(path).parent == Path(PROMETHEUS_SECRET_MOUNT) else path


async def run_with_signals(engine: Engine, loaded: Loaded, *, dry_run: bool = False,
                           run_id: str | None = None) -> RunFinished:
    """Run in the foreground; SIGINT/SIGTERM request an abort (cleanup always completes)."""
    from chaos.compiling import naming

    run_id = run_id or naming.new_run_id()
    loop = asyncio.get_running_loop()
    hits = {"n": 0}

    def on_signal() -> None:
        hits["n"] += 1
        if hits["n"] == 1:
            click.echo("\naborting: removing faults first (Ctrl-C again does not skip cleanup)", err=True)
        else:
            click.echo("cleanup in progress; it finishes before aftershock exits", err=True)
        engine.request(run_id, "abort")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        return await engine.run(loaded, run_id=run_id, dry_run=dry_run)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
@click.option("--dry-run", is_flag=True, help="Show resolved targets, faults and SLO values; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation when the blast radius is large.")
@click.option("--no-reaper", is_flag=True, help="Kubernetes: do not create the dead-man's-switch reaper Job.")
@click.option("--force", is_flag=True, help="Kubernetes: warn instead of refusing on colliding chaos objects.")
@click.option("--run-id", default=None, help="Run id (4 to 12 lower-case letters or digits; default: a fresh one).")
@output_option
@pushgateway_option
@state_dir_option
@target_options
def run(file: str, sets: tuple[str, ...], dry_run: bool, yes: bool, no_reaper: bool, force: bool, run_id: str | None,
        output: str, pushgateway: str | None, state_dir: str | None, kubeconfig: str | None, context: str | None,
        namespace: str | None, prometheus: str | None) -> None:
    """Run experiment FILE: pre-flight, steady state, inject, watch SLOs, recover, verdict."""
    pause = CollectorPause()
    try:
        _run(file, sets, dry_run, yes, no_reaper, force, run_id, output, state_dir, kubeconfig, context, namespace,
             prometheus, pause, pushgateway)
    finally:
        pause.resume()


def _pushed(metrics: Any, url: str | None, experiment: str, finished: Any, started: float) -> None:
    """After a run: its metrics to the Pushgateway (a failed push is a warning, never a verdict)."""
    if metrics is None or url is None:
        return
    import time

    metrics.finished("", finished.verdict, time.time() - started, None, time.time(), gameday=False)
    problem = metrics.push(url, {"experiment": experiment})
    if problem:
        click.echo(f"warning: {problem}", err=True)


def _run(file: str, sets: tuple[str, ...], dry_run: bool, yes: bool, no_reaper: bool, force: bool,
         run_id: str | None, output: str, state_dir: str | None, kubeconfig: str | None, context: str | None,
         namespace: str | None, prometheus: str | None, pause: CollectorPause, pushgateway: str | None = None) -> None:
    from chaos.compiling import naming
    from chaos.errors import InvalidInput, Problem
    from chaos.loading import load_file

    if run_id is not None and not naming.valid_run_id(run_id):
        raise InvalidInput(Problem(f"--run-id {run_id!r}: 4 to 12 lower-case letters or digits"))
    loaded = load_file(file, overrides=parse_sets(sets))
    exp = loaded.experiment
    settings = engine_settings(state_dir, prometheus, kubeconfig, context, namespace, not no_reaper, force)
    engine = Engine(settings)
    engine.subscribe(pause)
    if dry_run:
        plan = asyncio.run(engine.plan(loaded))
        if output == "json":  # stdout is NDJSON only: the plan is its first object
            import json

            click.echo(json.dumps({
                "type": "plan", "experiment": exp.name, "target": exp.spec.target.type, "run_id": plan.run_id,
                "faults": [{"fault": f.fault, "fault_type": f.fault_type, "description": f.description,
                            "manifest": f.manifest} for f in plan.faults],
                "slo_values": [{"slo": name, "value": value, "objective": str(exp.spec.slo(name).objective)}
                               for name, value in plan.slo_values.items()],
                "warnings": list(plan.warnings)}, default=str))
        else:
            click.echo(f"dry run of {exp.name} ({exp.spec.target.type}), run id {plan.run_id}: nothing is changed")
            for f in plan.faults:
                click.echo(f"- {f.fault} ({f.fault_type}): {f.description}")
                click.echo("  " + f.manifest.strip().replace("\n", "\n  "))
            for name, value in plan.slo_values.items():
                click.echo(f"SLO {name}: current value {'—' if value is None else f'{value:.4g}'} "
                           f"(objective {exp.spec.slo(name).objective})")
        for w in plan.warnings:
            click.echo(f"warning: {w}", err=True)
        engine.subscribe(NdjsonPrinter() if output == "json" else TextPrinter())
        finished = asyncio.run(engine.run(loaded, run_id=plan.run_id, dry_run=True))
        sys.exit(0 if finished.verdict == "passed" else finished.exit_code)
    big = (exp.spec.blast_radius.max_targets is not None and exp.spec.blast_radius.max_targets > 5) \
        or any(f.mode == "all" for f in exp.spec.faults)
    if big and not yes and sys.stdin.isatty():
        click.confirm(f"{exp.name} may affect many targets (mode all / maxTargets > 5). Continue?", abort=True)
    run_id = run_id or naming.new_run_id()
    click.echo(f"run id: {run_id}", err=True)  # before any event: scripts and `recover --run` can use it
    metrics, started = None, 0.0
    if pushgateway is not None:
        import time

        from chaos.gameday.metrics import Metrics

        metrics, started = Metrics(), time.time()
        engine.subscribe(metrics.on_event)
    if output == "text" and sys.stdout.isatty():
        from chaos.commands.live import LiveView

        with LiveView() as view:
            engine.subscribe(view)
            finished = asyncio.run(run_with_signals(engine, loaded, run_id=run_id))
        if finished.journal:
            click.echo(f"journal: {finished.journal}")
        _pushed(metrics, pushgateway, exp.name, finished, started)
        sys.exit(finished.exit_code)
    engine.subscribe(NdjsonPrinter() if output == "json" else TextPrinter())
    finished = asyncio.run(run_with_signals(engine, loaded, run_id=run_id))
    _pushed(metrics, pushgateway, exp.name, finished, started)
    sys.exit(finished.exit_code)
