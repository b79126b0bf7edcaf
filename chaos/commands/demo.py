"""``aftershock demo``: the embedded default — real Prometheus, the demo services under load,
a real fault through the fault proxy, and a policy that recovers, with no cluster.

Scenarios: ``latency`` (P95 breach → rollback), ``degrade`` (error rate → backup payment
channel), ``circuit-break`` (payment timeouts → gateway weight 0, half-open, close). Opens the
TUI when a terminal is attached (``--headless`` prints the summary instead). Everything it
starts is stopped when it ends, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import click

from chaos.bundled import examples_dir
from chaos.commands.options import out_option, output_option, state_dir_option
from chaos.commands.progress import NdjsonPrinter, TextPrinter
from chaos.commands.run import run_with_signals
from chaos.demo.story import STORIES, Story, narrate, story_shown
from chaos.engine import events as ev
from chaos.errors import CapabilityMissing, ChaosError
from chaos.loading import Loaded

SCENARIOS = {**{name: story.file for name, story in STORIES.items()}, "gameday": "../gamedays/demo-gameday.yaml"}
WARMUP_S = 45.0
BASELINE_S = 8.0
"""Seconds the steady state must hold before the fault (the report's visible baseline)."""
CONTEXT_BEFORE_S = 20.0
"""Seconds of Prometheus samples before the run shown in the report (the baseline)."""
TAIL_S = 4.0
"""Seconds the demo keeps the services up after the run so the report shows the recovered service."""


def experiments_dir() -> Path:
    """The shipped examples (``AFTERSHOCK_EXPERIMENTS`` overrides, for tests)."""
    override = os.environ.get("AFTERSHOCK_EXPERIMENTS")
    return Path(override) if override else examples_dir()


async def _warm_up(loaded: Loaded, environ: Mapping[str, str]) -> None:
    """Wait (bounded) until Prometheus has enough samples for the steady-state SLOs to hold."""
    from chaos.slo.monitoring import Monitor

    exp = loaded.experiment
    slos = [exp.spec.slo(n) for n in exp.spec.steady_state]
    if not slos:
        return
    deadline = time.monotonic() + WARMUP_S
    held_since: float | None = None
    async with Monitor(exp.spec.monitor, environ=environ) as monitor:
        while time.monotonic() < deadline:
            tick = await monitor.evaluate_now(slos)
            if all(v.holds for v in tick.verdicts if v.slo != "monitor"):
                held_since = held_since or time.monotonic()
                if time.monotonic() - held_since >= BASELINE_S:
                    return
            else:
                held_since = None
            await asyncio.sleep(1.0)  # samples arrive with Prometheus' 1 s scrapes: nothing to await on
    click.echo("warning: the steady state did not settle during warm-up; the run checks it again", err=True)


async def demo_gameday(path: Path, environ: dict[str, str], state_dir: str | None, say: Any,
                       guard: Any) -> int:
    """``aftershock demo --scenario gameday`` (called inside the demo, with its stack running)."""
    from chaos.commands.gameday import run_once
    from chaos.commands.run import engine_settings
    from chaos.gameday.loading import load_gameday

    lgd = load_gameday(path.resolve(), environ=environ)
    settings = engine_settings(state_dir)
    settings.environ = environ
    say(f"demo: game day {lgd.name}: {', '.join(x.experiment.name for x in lgd.experiments)}")
    say("demo: warming up (waiting for the SLOs to have data and hold)")
    await _warm_up(lgd.experiments[0], environ)
    try:
        return await run_once(lgd, settings, gate=False, say=say)
    finally:
        guard()  # run_once put the default signal handlers back: the demo's again, for the teardown


async def _context(loaded: Loaded, environ: Mapping[str, str], start: float, end: float
                   ) -> dict[str, list[tuple[float, float | None]]]:
    """Prometheus' samples of every SLO query around the run (for the report's before/after)."""
    from chaos.slo.monitoring import Monitor

    exp = loaded.experiment
    out: dict[str, list[tuple[float, float | None]]] = {}
    async with Monitor(exp.spec.monitor, environ=environ) as monitor:
        for slo in exp.spec.slos:
            try:
                series, _ = await monitor.client.query_range(slo.query, start, end, 1.0)
            except ChaosError:
                continue  # the report then shows the monitored samples only
            if not series:
                continue
            worst = max if slo.objective.op in ("<", "<=", "==") else min
            merged: dict[float, float] = {}
            for one in series:
                for t, value in one.values:
                    merged[t] = worst(merged[t], value) if t in merged else value
            out[slo.name] = sorted(merged.items())
    return out


class DemoSession:
    """One demo run: the story, the events seen, and the report written when it ends.

    Shared by the headless demo and the TUI's demo mode (which receives it as ``demo``; the TUI
    only reads ``story``, ``loaded``, ``run_id`` and awaits :meth:`finish`)."""

    def __init__(self, story: Story, loaded: Loaded, environ: Mapping[str, str], run_id: str,
                 report: Path) -> None:
        self.story, self.loaded, self.environ = story, loaded, environ
        self.run_id = run_id
        self.report = report
        self.events: list[ev.RunEvent] = []
        self.report_written: Path | None = None

    def listen(self, event: ev.RunEvent) -> None:
        if event.run_id == self.run_id:
            self.events.append(event)

    async def finish(self, journal: dict[str, Any]) -> str:
        """Write the report (with Prometheus' samples around the run); the closing lines."""
        from chaos.report import write_report

        started = self.events[0].at if self.events else time.time()
        await asyncio.sleep(TAIL_S)  # the recovered service, for the report's "after"
        context = await _context(self.loaded, self.environ, started - CONTEXT_BEFORE_S, time.time())
        self.report.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.report_written = write_report(journal, self.report, context)
        return self.closing()

    def outcome(self) -> tuple[bool, str]:
        return story_shown(self.story, self.events)

    def closing(self) -> str:
        shown, why = self.outcome()
        verdict = next((e for e in reversed(self.events) if isinstance(e, ev.RunFinished)), None)
        head = f"{verdict.verdict}" if verdict else "no verdict"
        story = "" if shown else " — the demo did NOT show its story"
        where = f"Report: {self.report_written}" if self.report_written else "No report written"
        return f"{head} — {why}{story}. {where}"


async def _demo(scenario: str, state_dir: str | None, output: str, report: str | None, tui: bool) -> int:
    """The demo; Ctrl-C / SIGTERM outside the run (start-up, warm-up, report, teardown) stop it and
    still stop everything it started (during the run they abort the run first: ``run_with_signals``)."""
    import signal

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    stopping = {"requested": False}

    def stop() -> None:
        if not stopping["requested"]:
            stopping["requested"] = True
            click.echo("\ndemo: stopping; Prometheus and the demo services are being stopped", err=True)
            main.cancel()

    def guard() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)

    guard()
    try:
        return await _demo_body(scenario, state_dir, output, report, tui, guard)
    except asyncio.CancelledError:
        if not stopping["requested"]:
            raise
        return 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _demo_body(scenario: str, state_dir: str | None, output: str, report: str | None, tui: bool,
                     guard: Callable[[], None]) -> int:
    from chaos.commands.run import engine_settings
    from chaos.compiling import naming
    from chaos.demo.prometheus import PrometheusServer
    from chaos.demo.stack import DemoStack
    from chaos.engine.driver import Engine
    from chaos.loading import load_file
    from chaos.report import report_path

    say = (lambda msg: click.echo(msg, err=True)) if output == "json" or tui else click.echo
    story = STORIES.get(scenario)
    say(f"demo ({scenario}): {story.intro if story else 'the three scenarios as one game day, then its report.'}")
    say("demo: starting the demo services (order-service, payment-gateway primary+backup, load, fault proxy)")
    async with DemoStack(load_rate=25.0) as stack:
        e = stack.endpoints
        say(f"demo: order-service http://{e.order}, fault proxy {e.proxy} (admin {stack.proxy_admin_url})")
        async with PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom, \
                _alertmanager(say) as alertmanager:
            say(f"demo: Prometheus {prom.url} scraping every 1s")
            environ = {**os.environ, "AFTERSHOCK_PROMETHEUS_URL": prom.url,
                       **({"AFTERSHOCK_ALERTMANAGER_URL": alertmanager} if alertmanager else {}),
                       "AFTERSHOCK_DEMO_PROXY_LISTEN": e.proxy,
                       "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                       "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, "AFTERSHOCK_DEMO_ORDER_URL": stack.order_url}
            if scenario == "gameday":  # the three scenarios as one game day: chaos.commands.gameday
                return await demo_gameday(experiments_dir() / SCENARIOS[scenario], environ, state_dir, say, guard)
            assert story is not None
            loaded = load_file(experiments_dir() / story.file, environ=environ)
            settings = engine_settings(state_dir)
            settings.environ = environ
            engine = Engine(settings)
            run_id = naming.new_run_id()
            session = DemoSession(story, loaded, environ, run_id,
                                  Path(report) if report else report_path(engine.store.dir, run_id))
            engine.subscribe(session.listen)
            say(f"demo: warming up (until the SLOs have held for {BASELINE_S:.0f} s; at most {WARMUP_S:.0f} s)")
            await _warm_up(loaded, environ)
            if tui:
                import chaos.commands.tui as tui_cmd

                os.environ.update(environ)  # the TUI loads experiment files with this environment
                where = f"host demo (no cluster) · prom {prom.url.removeprefix('http://')} · state {engine.store.dir}"
                await tui_cmd.run_tui_for_demo(engine, session, where)
                ended = next((x for x in session.events if isinstance(x, ev.RunFinished)), None)
                if ended is None:
                    click.echo("demo: the TUI was closed before the run finished", err=True)
                    return 1
                if ended.verdict == "aborted":
                    click.echo(f"demo: run {session.run_id} aborted; stopping Prometheus and the demo services")
                    return 130
                if session.report_written is None:
                    await session.finish(engine.journal(session.run_id))
            else:
                engine.subscribe(_narrator(story, say))
                engine.subscribe(NdjsonPrinter() if output == "json" else TextPrinter())
                try:
                    finished = await run_with_signals(engine, loaded, run_id=session.run_id)
                finally:
                    guard()  # run_with_signals put the default handlers back: ours again, for the teardown
                if finished.verdict == "aborted":
                    say("demo: aborted; stopping Prometheus and the demo services")
                    return 130
                if finished.journal:
                    say(f"demo: keeping the services up {TAIL_S:.0f} s more so the report shows the recovery")
                    await session.finish(engine.journal(finished.run_id))
            shown, why = session.outcome()
            verdict = next((x for x in reversed(session.events) if isinstance(x, ev.RunFinished)), None)
            final = click.echo if output == "text" else say  # stdout, unless it carries NDJSON
            final(f"demo: verdict {verdict.verdict if verdict else '—'}: {why}")
            if session.report_written is not None:
                final(f"demo: report {session.report_written}")
            if not shown:
                click.echo("demo: the demo did not show what it set out to show (exit 1)", err=True)
            return 0 if shown else 1


@contextlib.asynccontextmanager
async def _alertmanager(say: Callable[[str], None]) -> AsyncIterator[str]:
    """A throw-away Alertmanager for the demo's alerting loop (its URL), or "" when it is not installed
    (the experiments then say the silence could not be made, and go on)."""
    from chaos.demo.alertmanager import AlertmanagerServer
    from chaos.errors import ChaosError

    try:
        server = await asyncio.to_thread(AlertmanagerServer().start)
    except ChaosError as exc:
        say(f"demo: no Alertmanager ({exc}); expected alerts are not silenced")
        yield ""
        return
    say(f"demo: Alertmanager {server.url} (the drill silences its expected alerts there and alerts what "
        "no policy answers)")
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.close)


def _narrator(story: Story, say: Callable[[str], None]) -> Callable[[ev.RunEvent], None]:
    def listener(event: ev.RunEvent) -> None:
        line = narrate(story, event)
        if line:
            say(f"▶ {line}")

    return listener


@click.command("demo")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="latency", show_default=True,
              help="latency → rollback; degrade → backup channel; circuit-break → weight 0 with half-open; "
                   "gameday → the three as one game day, with its report.")
@click.option("--headless", is_flag=True, help="Print progress and the summary instead of opening the TUI.")
@out_option("HTML report to write (default: reports/RUN.html in the state dir).")
@output_option
@state_dir_option
def demo(scenario: str, headless: bool, out: str | None, output: str, state_dir: str | None) -> None:
    """Run the embedded demo: real Prometheus, demo services, a real fault, policy recovery."""
    import shutil

    if shutil.which("prometheus") is None:
        raise CapabilityMissing("Prometheus is not installed: run `apt-get install -y prometheus` "
                                "(or `make demo`, which installs it)")
    use_tui = not headless and output == "text" and sys.stdin.isatty() and sys.stdout.isatty()
    sys.exit(asyncio.run(_demo(scenario, state_dir, output, out, use_tui)))
