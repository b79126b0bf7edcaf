"""``aftershock demo``: the embedded default — real Prometheus, the demo services under load,
a real fault through the fault proxy, and a policy that recovers, with no cluster.

Scenarios: ``latency`` (P95 breach → rollback), ``degrade`` (error rate → backup payment
channel), ``circuit-break`` (payment timeouts → gateway weight 0, half-open, close). Opens the
TUI when a terminal is attached (``--headless`` prints the summary instead). Everything it
starts is stopped when it ends, whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from chaos.commands.options import state_dir_option
from chaos.commands.progress import NdjsonPrinter, TextPrinter
from chaos.errors import CapabilityMissing
from chaos.loading import Loaded

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {
    "latency": "demo-payment-latency.yaml",
    "degrade": "demo-degrade.yaml",
    "circuit-break": "demo-circuit-break.yaml",
    "gameday": "../gamedays/demo-gameday.yaml",
}
WARMUP_S = 45.0


def experiments_dir() -> Path:
    return Path(os.environ.get("AFTERSHOCK_EXPERIMENTS", REPO / "experiments"))


async def _warm_up(loaded: Loaded, environ: Mapping[str, str]) -> None:
    """Wait (bounded) until Prometheus has enough samples for the steady-state SLOs to hold."""
    from chaos.slo.monitoring import Monitor

    exp = loaded.experiment
    slos = [exp.spec.slo(n) for n in exp.spec.steady_state]
    if not slos:
        return
    deadline = time.monotonic() + WARMUP_S
    async with Monitor(exp.spec.monitor) as monitor:
        while time.monotonic() < deadline:
            tick = await monitor.evaluate_now(slos)
            if all(v.holds for v in tick.verdicts if v.slo != "monitor"):
                return
            await asyncio.sleep(1.0)  # samples arrive with Prometheus' 1 s scrapes: nothing to await on
    click.echo("warning: the steady state did not settle during warm-up; the run checks it again", err=True)


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
    from chaos.commands.run import engine_settings, run_with_signals
    from chaos.demo.prometheus import PrometheusServer
    from chaos.demo.stack import DemoStack
    from chaos.engine.driver import Engine
    from chaos.loading import load_file
    from chaos.report import write_report

    say = (lambda msg: click.echo(msg, err=True)) if output == "json" else click.echo
    say("demo: starting the demo services (order-service, payment-gateway primary+backup, load, fault proxy)")
    async with DemoStack(load_rate=25.0) as stack:
        e = stack.endpoints
        say(f"demo: order-service http://{e.order}, fault proxy {e.proxy} (admin {stack.proxy_admin_url})")
        async with PrometheusServer(stack.scrape_targets(), scrape_interval="1s") as prom:
            say(f"demo: Prometheus {prom.url} scraping every 1s")
            environ = {**os.environ, "PROMETHEUS_URL": prom.url, "AFTERSHOCK_DEMO_PROXY_LISTEN": e.proxy,
                       "AFTERSHOCK_DEMO_PROXY_ADMIN": stack.proxy_admin_url,
                       "AFTERSHOCK_DEMO_PROXY_TOKEN": stack.proxy_token, "AFTERSHOCK_DEMO_ORDER_URL": stack.order_url}
            if scenario == "gameday":  # the three scenarios as one game day: chaos.commands.gameday
                from chaos.commands.gameday import demo_gameday

                return await demo_gameday(experiments_dir() / SCENARIOS[scenario], environ, state_dir, say, guard)
            loaded = load_file(experiments_dir() / SCENARIOS[scenario], environ=environ)
            settings = engine_settings(state_dir)
            settings.environ = environ
            engine = Engine(settings)
            say("demo: warming up (waiting for the SLOs to have data and hold)")
            await _warm_up(loaded, environ)
            if tui:
                import chaos.commands.tui as tui_cmd

                os.environ.update(environ)  # the TUI loads experiment files with this environment
                run_tui = getattr(tui_cmd, "run_tui_for_demo")  # noqa: B009 - lands with the TUI
                code = await run_tui(engine, loaded)
                return int(code)
            engine.subscribe(NdjsonPrinter() if output == "json" else TextPrinter())
            try:
                finished = await run_with_signals(engine, loaded)
            finally:
                guard()  # run_with_signals put the default handlers back: ours again, for the teardown
            if finished.journal:
                path = Path(report) if report else engine.store.dir / "reports" / f"{finished.run_id}.html"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_report(engine.journal(finished.run_id), path)
                say(f"demo: report {path}")
            say(f"demo: verdict {finished.verdict}; stopping Prometheus and the demo services")
            return finished.exit_code


@click.command("demo")
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="latency", show_default=True,
              help="latency → rollback; degrade → backup channel; circuit-break → weight 0 with half-open; "
                   "gameday → the three as one game day, with its report.")
@click.option("--headless", is_flag=True, help="Print progress and the summary instead of opening the TUI.")
@click.option("--report", type=click.Path(dir_okay=False), default=None, help="Where to write the HTML report.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@state_dir_option
def demo(scenario: str, headless: bool, report: str | None, output: str, state_dir: str | None) -> None:
    """Run the embedded demo: real Prometheus, demo services, a real fault, policy recovery."""
    import shutil

    if shutil.which("prometheus") is None:
        raise CapabilityMissing("Prometheus is not installed: run `apt-get install -y prometheus` "
                                "(or `make demo`, which installs it)")
    use_tui = not headless and output == "text" and sys.stdin.isatty() and sys.stdout.isatty()
    if use_tui:
        try:
            import chaos.commands.tui as tui_cmd

            use_tui = hasattr(tui_cmd, "run_tui_for_demo")
        except ImportError:
            use_tui = False
    sys.exit(asyncio.run(_demo(scenario, state_dir, output, report, use_tui)))
