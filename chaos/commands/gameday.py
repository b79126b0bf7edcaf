"""``aftershock gameday``: next fire times, one game day now, the long-running scheduler, and
list / pause / resume of schedules.

``serve`` loads every schedule of its folders (GameDay files and experiments with
``spec.schedule``), reloads them when a file changes, recovers faults of dead runs and marks
game days of a dead scheduler orphaned at start, serves its metrics and ``/healthz``, and on
SIGTERM/SIGINT aborts a running game day cleanly (faults removed first) before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from chaos.commands.completion import schedule_names
from chaos.commands.options import output_option, pushgateway_option, state_dir_option, target_options
from chaos.commands.output import reconfigure_logging
from chaos.errors import InvalidExperiment, InvalidInput, PreflightRefused, Problem
from chaos.gameday.loading import LoadedGameDay, as_gameday, load_document
from chaos.secrets import quiet_http_logs

log = logging.getLogger("aftershock.gameday")


def _as_gameday(path: str) -> LoadedGameDay:
    doc = load_document(path)
    return doc if isinstance(doc, LoadedGameDay) else as_gameday(doc)


def _parse_after(text: str | None) -> float:
    if text is None:
        return time.time()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(Problem(f"--after {text!r}: not an ISO 8601 time",
                                   hint="e.g. 2027-03-27T00:00:00Z or 2027-03-27T01:00+01:00")) from None
    if at.tzinfo is None:
        raise InvalidInput(Problem(f"--after {text!r}: give a UTC offset or Z", hint="e.g. 2027-03-27T00:00:00Z"))
    return at.timestamp()


@click.group("gameday")
def gameday() -> None:
    """Game days: schedules of experiments, run unattended, with a report the team reads."""


@gameday.command("next")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--after", default=None, help="Start from this ISO 8601 time (default: now).")
@click.option("--count", "-c", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="How many fires to list (-n is --namespace everywhere).")
@output_option
def next_cmd(file: str, after: str | None, count: int, output: str) -> None:
    """The next fire times of FILE (a GameDay or an experiment with spec.schedule), and the due times
    a blackout will skip before them."""
    from chaos.gameday.decide import upcoming
    from chaos.gameday.fires import local_text, utc_z

    lgd = _as_gameday(file)
    schedule = lgd.gameday.spec.schedule
    if schedule is None:
        raise InvalidExperiment(Problem("has no spec.schedule: nothing to fire", path="spec.schedule", file=file,
                                        hint="add spec.schedule: {cron: '0 10 * * 5', timezone: Europe/Berlin}"))
    found = upcoming(schedule, lgd.gameday.spec.blackouts, _parse_after(after), count)
    if output == "json":
        click.echo(json.dumps({"name": lgd.name, "timezone": schedule.timezone,
                               "fires": [utc_z(f) for f in found.fires],
                               "skipped": [{"at": utc_z(at), "reason": "blackout", "detail": why}
                                           for at, why in found.skipped]}))
        return
    click.echo(f"{lgd.name}: {schedule.cron!r} in {schedule.timezone}")
    rows = sorted([(f, "") for f in found.fires] + list(found.skipped))
    for at, why in rows:
        mark = f"  skipped: {why}" if why else ""
        click.echo(f"  {utc_z(at)}  ({local_text(at, schedule.timezone)}){mark}")


@gameday.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--no-gate", is_flag=True, help="Start even when the error-budget gate is closed.")
@click.option("--scheduled", is_flag=True,
              help="Started by a scheduler (a Kubernetes CronJob): run only at a due time of the schedule by "
                   "Aftershock's DST rules, claimed once in the state DB; otherwise record why and exit 0.")
@click.option("--journals-url", default=None, help="POST the game-day report and every journal to this URL.")
@pushgateway_option
@state_dir_option
@target_options
def run_cmd(file: str, no_gate: bool, scheduled: bool, journals_url: str | None, pushgateway: str | None,
            state_dir: str | None, kubeconfig: str | None, context: str | None, namespace: str | None,
            prometheus: str | None) -> None:
    """Run one game day now (serial/parallel, pauses, stopOn, gate); then write its report."""
    from chaos.commands.run import engine_settings

    lgd = _as_gameday(file)
    settings = engine_settings(state_dir, prometheus, kubeconfig, context, namespace)
    sys.exit(asyncio.run(run_once(lgd, settings, gate=not no_gate, say=click.echo, scheduled=scheduled,
                                   journals_url=journals_url, pushgateway=pushgateway)))


def _scheduled_due(lgd: LoadedGameDay, now: float) -> tuple[float | None, str]:
    """The due time a scheduled start stands for, or why there is none."""
    from chaos.gameday.decide import SKIP_GRACE_S
    from chaos.gameday.fires import fires_between, utc_z

    schedule = lgd.gameday.spec.schedule
    if schedule is None:
        return None, "has no spec.schedule"
    window = schedule.starting_deadline_s if schedule.missed == "latest" else SKIP_GRACE_S
    dues = fires_between(schedule.cron, schedule.timezone, now - window - 1, now)
    if not dues:
        return None, (f"{utc_z(now)} is not within {window:g} s of a due time of {lgd.name} by Aftershock's rules "
                      "(e.g. the repeated hour at a DST fall-back); nothing to do")
    return dues[-1], ""


async def run_once(lgd: LoadedGameDay, settings: Any, *, gate: bool, say: Any, scheduled: bool = False,
                    journals_url: str | None = None, pushgateway: str | None = None) -> int:
    """One game day in the foreground (also the demo's ``gameday`` scenario and the CronJob's Job)."""
    from chaos.clients.schedule_store import ScheduleStore
    from chaos.commands.progress import TextPrinter
    from chaos.compiling import naming
    from chaos.gameday.decide import blackout_at
    from chaos.gameday.notify import Notifier
    from chaos.gameday.runner import (
        GameDayRunner,
        notification_body,
        notify_finished,
        push_journals,
        read_gate,
        write_report,
    )
    from chaos.slo.budget import closed, opened

    runner = GameDayRunner(settings, listener=TextPrinter())
    schedules = ScheduleStore(runner.engine.store.dir)
    notifier = Notifier(lgd.gameday.spec.notify)
    now = time.time()
    schedules.register(lgd.name, lgd.source, now)
    due, trigger = now, "manual"
    if scheduled:
        found, why = _scheduled_due(lgd, now)
        if found is None:
            say(f"game day {lgd.name}: {why}")
            return 0
        due, trigger = found, "schedule"
        row = schedules.schedule(lgd.name)
        tz = lgd.gameday.spec.schedule.timezone if lgd.gameday.spec.schedule else "UTC"
        blocked = ("schedule paused" if row and row.paused else
                   f"schedule suspended: {row.suspended}" if row and row.suspended else
                   (f"blackout {b}" if (b := blackout_at(lgd.gameday.spec.blackouts, now, tz)) else ""))
        if blocked:
            if schedules.skip(lgd.name, due, blocked, now):
                await notifier.send("skipped", {"gameday": lgd.name, "due": due, "reason": blocked})
            say(f"game day {lgd.name}: skipped: {blocked}")
            return 0
    if gate and lgd.gameday.spec.gate is not None:
        reading = await read_gate(lgd, settings)
        if reading is not None and not reading.open:
            if scheduled:
                reason = closed(reading)
                if schedules.skip(lgd.name, due, reason, now):
                    await notifier.send("skipped", {"gameday": lgd.name, "due": due, "reason": reason})
                say(f"game day {lgd.name}: skipped: {reason}")
                return 0
            raise PreflightRefused(f"game day {lgd.name}: {closed(reading)}",
                                   ["run it when the budget has recovered, or pass --no-gate"])
        if reading is not None:
            say(opened(reading))
    gid = naming.new_run_id()
    if not schedules.claim(lgd.name, due, gid, now, trigger=trigger):
        say(f"game day {lgd.name}: due time {due} was already started or skipped (claimed once); nothing to do")
        return 0
    runner.on_runs = lambda runs: schedules.set_runs(lgd.name, due, runs)
    await notifier.send("started", {"gameday": lgd.name, "id": gid, "due": due, "trigger": trigger})
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        click.echo("\naborting the game day: faults are removed first", err=True)
        runner.abort()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    metrics = None
    if pushgateway is not None:
        from chaos.gameday.metrics import Metrics

        metrics = Metrics()
        runner.engine.subscribe(metrics.on_event)
    started = time.time()
    try:
        result = await runner.run(lgd, due=due, trigger=trigger, gameday_id=gid)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    written = write_report(result, runner.engine.store.dir, schedules)
    schedules.finish(lgd.name, due, result.verdict, written.score.score, str(written.html), result.stopped,
                     result.run_ids, time.time())
    await notify_finished(notifier, result, written)
    if journals_url:
        await push_journals(journals_url, result, written)
    if metrics is not None and pushgateway is not None:
        ended = time.time()
        metrics.finished(lgd.name, result.verdict, ended - started, written.score.score, ended)
        problem = await asyncio.to_thread(metrics.push, pushgateway, {"gameday": lgd.name})
        if problem:
            click.echo(f"warning: {problem}", err=True)
    body = notification_body(result, written)
    for e in body["experiments"]:
        say(f"{e['name']}: {e['verdict']} (run {e['run_id'] or '—'})")
    say(f"game day {lgd.name}: {result.verdict}, resilience score "
        f"{written.score.score if written.score.score is not None else 'n/a'}")
    say(f"report: {written.html}")
    say(f"report (markdown): {written.markdown}")
    return result.exit_code


# ---------------------------------------------------------------- serve


def scan(dirs: tuple[str, ...]) -> tuple[dict[str, LoadedGameDay], list[str], tuple[Any, ...]]:
    """Schedules in ``dirs`` (by name), problems of files that could not be loaded, and a signature
    of the files (to notice changes)."""
    entries: dict[str, LoadedGameDay] = {}
    problems: list[str] = []
    sig: list[Any] = []
    for d in dirs:
        files = sorted(p for p in Path(d).glob("*.y*ml") if p.is_file())
        for path in files:
            st = path.stat()
            sig.append((str(path), st.st_mtime_ns, st.st_size))
            try:
                doc = load_document(path)
            except InvalidExperiment as exc:
                problems.extend(p.render() for p in exc.problems)
                continue
            lgd = doc if isinstance(doc, LoadedGameDay) else as_gameday(doc)
            if lgd.gameday.spec.schedule is None:
                continue
            if lgd.name in entries:
                problems.append(f"{path}: schedule {lgd.name!r} is already defined by {entries[lgd.name].source}; "
                                "ignored")
                continue
            entries[lgd.name] = lgd
    return entries, problems, tuple(sig)


def _say_conflicts(entries: Mapping[str, LoadedGameDay]) -> None:
    """The same experiment fired twice at the same time by two schedules: said at start and reload."""
    from chaos.commands.validate import describe_schedule
    from chaos.gameday.decide import schedule_conflicts

    for conflict in schedule_conflicts([describe_schedule(lgd) for lgd in entries.values()], time.time()):
        click.echo(f"gameday serve: ! {conflict.describe()}", err=True)


async def _serve(dirs: tuple[str, ...], settings: Any, listen: str, poll_s: float,
                 halt: asyncio.Event | None = None) -> int:
    """The scheduler until SIGTERM (or until ``halt`` is set: ``--leader-elect`` lost the Lease, or
    was signalled before this function took the signals over)."""
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from chaos.clients.schedule_store import ScheduleStore
    from chaos.commands.progress import TextPrinter
    from chaos.commands.recover import run_recover
    from chaos.engine.driver import Engine
    from chaos.gameday.metrics import Metrics
    from chaos.gameday.notify import Notifier, alert_suspended
    from chaos.gameday.runner import GameDayRunner, notify_finished, read_gate, write_report
    from chaos.gameday.service import Finished, Handle, Scheduler, SystemClock

    metrics = Metrics()
    engine = Engine(settings)
    engine.subscribe(metrics.on_event)
    engine.subscribe(TextPrinter(color=False))
    schedules = ScheduleStore(engine.store.dir)

    async def launcher(lgd: LoadedGameDay, handle: Handle, trigger: str) -> Finished:
        runner = GameDayRunner(settings, engine=engine)
        runner.on_runs = handle.on_runs
        watcher = asyncio.create_task(handle.abort.wait())
        watcher.add_done_callback(lambda _t: runner.abort() if handle.abort.is_set() else None)
        try:
            result = await runner.run(lgd, due=handle.due, trigger=trigger, gameday_id=handle.gameday_id)
        finally:
            watcher.cancel()
        written = write_report(result, engine.store.dir, schedules)
        await notify_finished(Notifier(lgd.gameday.spec.notify), result, written)
        click.echo(f"game day {lgd.name} ({handle.gameday_id}): {result.verdict}, score "
                   f"{written.score.score if written.score.score is not None else 'n/a'}; report {written.html}")
        return Finished(result.verdict, written.score.score, str(written.html), result.stopped, result.run_ids)

    async def gate(lgd: LoadedGameDay, now: float) -> Any:
        return await read_gate(lgd, settings, now)

    async def notify(lgd: LoadedGameDay, event: str, body: dict[str, Any]) -> None:
        await Notifier(lgd.gameday.spec.notify).send(event, body)
        if event == "suspended":
            await alert_suspended(lgd, body)

    click.echo("gameday serve: recovering faults left by dead runs")
    await run_recover(str(engine.store.dir), None, False, False)
    scheduler = Scheduler(schedules, engine.store, SystemClock(), launcher, gate=gate, notify=notify,
                          metrics=metrics)
    for orphan in scheduler.recover():
        click.echo(f"gameday serve: game day {orphan} was orphaned by a dead scheduler (recorded as aborted)")
    entries, problems, sig = scan(dirs)
    for p in problems:
        click.echo(f"✗ {p}", err=True)
    _say_conflicts(entries)
    scheduler.load(entries)
    click.echo(f"gameday serve: {len(entries)} schedule(s): {', '.join(sorted(entries)) or 'none'}")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            click.echo("gameday serve: stopping; a running game day is aborted (faults removed first)", err=True)
        stop.set()
        scheduler.wake.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)

    async def on_halt() -> None:
        if halt is not None:
            await halt.wait()
            stop.set()
            scheduler.wake.set()

    halt_watch = asyncio.create_task(on_halt())

    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": not stop.is_set(), "schedules": sorted(scheduler.entries),
                                  "running": sorted(scheduler.live)})

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    web_runner = web.AppRunner(app, access_log=None)
    await web_runner.setup()
    host, _, port = listen.rpartition(":")
    site = web.TCPSite(web_runner, host or "127.0.0.1", int(port))
    await site.start()
    bound = web_runner.addresses[0] if web_runner.addresses else listen
    click.echo(f"gameday serve: metrics and /healthz on http://{bound[0]}:{bound[1]}")

    async def watch() -> None:
        nonlocal sig
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await stop.wait()
            if stop.is_set():
                return
            fresh, problems, new_sig = scan(dirs)
            if new_sig != sig:
                sig = new_sig
                for p in problems:
                    click.echo(f"✗ {p}", err=True)
                _say_conflicts(fresh)
                scheduler.load(fresh)
                click.echo(f"gameday serve: reloaded: {len(fresh)} schedule(s): {', '.join(sorted(fresh)) or 'none'}")

    watcher = asyncio.create_task(watch())
    try:
        await scheduler.serve(stop)
    finally:
        stop.set()
        await watcher
        halt_watch.cancel()
        await web_runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    click.echo("gameday serve: stopped")
    return 0


async def _serve_elected(dirs: tuple[str, ...], settings: Any, listen: str, poll_s: float, elector: Any) -> int:
    """``serve --leader-elect``: wait for the Lease, serve while it is held, release it on the way out.
    Exit 1 when the Lease was lost (the pod restarts and is a candidate again)."""
    halt, lost, done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:  # outside _serve (which takes the signals over while it runs)
        halt.set()

    def take_signals() -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal)

    take_signals()
    click.echo(f"gameday serve: candidate {elector.identity} for the lease {elector.namespace}/{elector.name}")
    try:
        if not await elector.acquire(halt):
            click.echo("gameday serve: stopped while waiting for the lease")
            return 0
        click.echo(f"gameday serve: {elector.identity} leads (lease {elector.namespace}/{elector.name})")

        async def keep() -> None:
            if not await elector.hold(done):
                click.echo("gameday serve: the lease was lost: stopping (a running game day is aborted)",
                           err=True)
                lost.set()
                halt.set()

        keeper = asyncio.create_task(keep())
        try:
            code = await _serve(dirs, settings, listen, poll_s, halt=halt)
        finally:
            take_signals()  # _serve gave the signals back: a SIGTERM now must not kill the release
            done.set()
            await keeper
            if not lost.is_set():
                await asyncio.to_thread(elector.release)
        return 1 if lost.is_set() else code
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@gameday.command("serve")
@click.argument("dirs", nargs=-1, type=click.Path(file_okay=False, exists=True))
@click.option("--listen", default="127.0.0.1:9477", show_default=True,
              help="host:port of /metrics and /healthz (port 0: any free port).")
@click.option("--poll", "poll_s", type=click.FloatRange(0.2, 3600), default=2.0, show_default=True,
              help="Seconds between checks of the folders for changed files.")
@click.option("--leader-elect", is_flag=True,
              help="Replicas of a Deployment: only the holder of a coordination.k8s.io Lease schedules "
                   "(the others wait as candidates), so no due time fires twice.")
@click.option("--lease", "lease_name", default="aftershock-gameday-serve", show_default=True,
              help="--leader-elect: name of the Lease.")
@click.option("--lease-namespace", default=None, envvar="POD_NAMESPACE",
              help="--leader-elect: namespace of the Lease (default: $POD_NAMESPACE, else the kubeconfig's).")
@click.option("--identity", default=None, envvar="POD_NAME",
              help="--leader-elect: this candidate's name (default: $POD_NAME, else the host name and pid).")
@state_dir_option
@target_options
def serve(dirs: tuple[str, ...], listen: str, poll_s: float, leader_elect: bool, lease_name: str,
          lease_namespace: str | None, identity: str | None, state_dir: str | None, kubeconfig: str | None,
          context: str | None, namespace: str | None, prometheus: str | None) -> None:
    """Run every schedule in DIRS (default: experiments/ and gamedays/) until SIGTERM."""
    from chaos.commands.run import engine_settings

    reconfigure_logging(click.get_current_context(), logging.INFO)  # the scheduler logs at info unless -q
    quiet_http_logs()  # no URL with userinfo or a query token reaches the log (httpx logs each at INFO)
    settings = engine_settings(state_dir, prometheus, kubeconfig, context, namespace)
    folders = dirs or tuple(d for d in ("experiments", "gamedays") if Path(d).is_dir())
    if not folders:
        raise InvalidInput(Problem("no folder to serve: give DIR arguments (experiments/ and gamedays/ are "
                                   "the defaults and do not exist here)"))
    if not leader_elect:
        sys.exit(asyncio.run(_serve(folders, settings, listen, poll_s)))
    import os
    import socket

    from chaos.clients.kube.lease import LeaseElector
    from chaos.clients.kube.settings import KubeSettings, build_api_client

    api = build_api_client(KubeSettings(kubeconfig=kubeconfig, context=context))
    elector = LeaseElector(api, lease_namespace or namespace or "default", lease_name,
                           identity or f"{socket.gethostname()}-{os.getpid()}")
    try:
        sys.exit(asyncio.run(_serve_elected(folders, settings, listen, poll_s, elector)))
    finally:
        api.close()  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------- list / pause / resume


def _store(state_dir: str | None) -> Any:
    from chaos.clients.schedule_store import ScheduleStore

    return ScheduleStore(Path(state_dir) if state_dir else None)


def schedule_rows(store: Any) -> list[dict[str, Any]]:
    from chaos.gameday.fires import utc_z

    out = []
    for row in store.schedules():
        fires = store.fires(row.name, limit=200)
        done = [f for f in fires if f.state in ("finished", "orphaned")]
        skips = [f for f in fires if f.state == "skipped"]
        running = [f for f in fires if f.state == "running" and f.alive]
        out.append({"name": row.name, "source": row.source, "paused": row.paused, "suspended": row.suspended,
                    "next_fire": utc_z(row.next_fire) if row.next_fire else None,
                    "running": [f.gameday_id for f in running],
                    "last": ({"due": utc_z(done[0].due), "verdict": done[0].verdict, "score": done[0].score,
                              "report": done[0].report} if done else None),
                    "skipped": sum(f.count for f in skips),
                    "last_skip": ({"due": utc_z(skips[0].due), "reason": skips[0].reason} if skips else None)})
    return out


@gameday.command("list")
@output_option
@state_dir_option
def list_cmd(output: str, state_dir: str | None) -> None:
    """Known schedules: paused/suspended, next fire, last outcome, skips."""
    rows = schedule_rows(_store(state_dir))
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no schedule known yet (`aftershock gameday serve DIR` registers them)")
    for r in rows:
        state = "suspended" if r["suspended"] else ("paused" if r["paused"] else "active")
        last = f"{r['last']['verdict']} (score {r['last']['score']})" if r["last"] else "never ran"
        click.echo(f"{r['name']}: {state}, next {r['next_fire'] or '—'}, last {last}, {r['skipped']} skipped"
                   + (f" (last: {r['last_skip']['reason']})" if r["last_skip"] else ""))
        if r["suspended"]:
            click.echo(f"  suspended: {r['suspended']}")


def _set_paused(name: str, paused: bool, state_dir: str | None) -> None:
    from chaos.model.checks import did_you_mean

    store = _store(state_dir)
    if not store.set_paused(name, paused, time.time()):
        names = [r.name for r in store.schedules()]
        raise InvalidInput(Problem(f"no schedule named {name!r}",
                                   hint=did_you_mean(name, names) or f"known: {', '.join(names) or 'none'}"))
    click.echo(f"{name}: {'paused' if paused else 'resumed'}")


@gameday.command("pause")
@click.argument("name", shell_complete=schedule_names)
@state_dir_option
def pause_cmd(name: str, state_dir: str | None) -> None:
    """Pause schedule NAME: its due times are skipped (and recorded) until resumed."""
    _set_paused(name, True, state_dir)


@gameday.command("resume")
@click.argument("name", shell_complete=schedule_names)
@state_dir_option
def resume_cmd(name: str, state_dir: str | None) -> None:
    """Resume schedule NAME (also lifts a suspendAfter suspension)."""
    _set_paused(name, False, state_dir)
