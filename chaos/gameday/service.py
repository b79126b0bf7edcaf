"""The scheduler: every schedule of the loaded files, one decision pass at a time (:meth:`Scheduler.step`),
with an injected clock and an injected launcher. The decisions are :mod:`chaos.gameday.decide`'s;
this module observes (state DB, blackouts, live runs, the gate), persists (skips, claims — the due
time is committed *before* the run starts — outcomes, suspensions) and launches.

Restarts: the cursor, pauses, suspensions and outcomes live in the state DB; game days whose
scheduler died are marked orphaned at start (:meth:`Scheduler.recover`), after the caller removed
their faults. Two schedulers on one DB: the claim's primary key lets exactly one start a due time.
Used by ``aftershock gameday serve`` (real clock, real engine) and by tests (virtual clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos.clients.schedule_store import ScheduleStore
from chaos.clients.state import StateStore
from chaos.compiling import naming
from chaos.errors import ChaosError
from chaos.gameday.decide import Blockers, admit, blackout_at, due_now, should_suspend
from chaos.gameday.fires import next_fires
from chaos.gameday.loading import LoadedGameDay
from chaos.gameday.metrics import Metrics
from chaos.gameday.targets import target_keys
from chaos.slo.budget import GateReading

log = logging.getLogger("aftershock.gameday")
RECHECK_S = 5.0
"""How often a held due time (missed: latest) or a running game day is looked at again."""


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, at: float, wake: asyncio.Event) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep_until(self, at: float, wake: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, at - time.time())):
                await wake.wait()
        wake.clear()


@dataclass
class Finished:
    verdict: str
    score: int | None = None
    report: str = ""
    reason: str = ""
    runs: list[str] = field(default_factory=list)


@dataclass
class Handle:
    """What a launcher gets: abort requests and a place to report the engine runs it started."""

    gameday_id: str
    schedule: str
    due: float
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    on_runs: Callable[[list[str]], None] = lambda runs: None


Launcher = Callable[[LoadedGameDay, Handle, str], Awaitable[Finished]]
"""``(game day, handle, trigger) → outcome``; trigger is ``schedule`` or ``manual``."""
GateReader = Callable[[LoadedGameDay, float], Awaitable[GateReading | None]]
Notify = Callable[[LoadedGameDay, str, dict[str, Any]], Awaitable[None]]


async def _no_gate(lgd: LoadedGameDay, now: float) -> GateReading | None:
    return None


async def _no_notify(lgd: LoadedGameDay, event: str, body: dict[str, Any]) -> None:
    return None


@dataclass
class _Live:
    handle: Handle
    task: asyncio.Task[None]


class Scheduler:
    def __init__(self, schedules: ScheduleStore, runs: StateStore, clock: Clock, launcher: Launcher, *,
                 gate: GateReader = _no_gate, notify: Notify = _no_notify, metrics: Metrics | None = None) -> None:
        self.schedules = schedules
        self.runs = runs
        self.clock = clock
        self.launcher = launcher
        self.gate = gate
        self.notify = notify
        self.metrics = metrics or Metrics()
        self.entries: dict[str, LoadedGameDay] = {}
        self._held: dict[str, dict[float, str]] = {}
        self._live: dict[str, _Live] = {}
        self._sources: dict[str, set[str] | None] = {}
        self._announced: dict[str, float] = {}
        self.wake = asyncio.Event()

    # ------------------------------------------------------------ entries

    def load(self, entries: Mapping[str, LoadedGameDay]) -> None:
        """Replace the set of schedules (a reload). Removed schedules fire no more; their live game
        days finish (an operator aborts them with SIGTERM or the TUI)."""
        now = self.clock.now()
        self.entries = {n: e for n, e in entries.items() if e.gameday.spec.schedule is not None}
        for name, lgd in self.entries.items():
            self.schedules.register(name, lgd.source, now)
        for name in list(self._held):
            if name not in self.entries:
                del self._held[name]
        self.wake.set()

    def recover(self) -> list[str]:
        """Mark game days whose scheduler died as orphaned (call after removing their faults)."""
        return [f"{f.schedule}@{f.due}" for f in self.schedules.orphans(self.clock.now())]

    # ------------------------------------------------------------ one pass

    async def step(self) -> float:
        """Decide every schedule once; returns when to look again."""
        now = self.clock.now()
        wake = now + 3600.0
        for name, lgd in list(self.entries.items()):
            try:
                wake = min(wake, await self._step_one(name, lgd, now))
            except ChaosError as exc:
                log.error("schedule %s: %s", name, exc)
                wake = min(wake, now + RECHECK_S)
        if self._live:
            wake = min(wake, now + RECHECK_S)
        return wake

    async def _step_one(self, name: str, lgd: LoadedGameDay, now: float) -> float:
        schedule = lgd.gameday.spec.schedule
        assert schedule is not None
        row = self.schedules.schedule(name) or self.schedules.register(name, lgd.source, now)
        held = self._held.setdefault(name, {})
        cursor = self.schedules.cursor(name)
        # a long outage of a frequent schedule means many fire times: computed off the event loop
        due = await asyncio.to_thread(due_now, schedule, cursor, now, held=dict(held))
        for skip in due.skips:
            held.pop(skip.due, None)
        recorded = self.schedules.skip_many(name, [(k.due, k.reason, k.count) for k in due.skips], now)
        for _at, reason, count in recorded:
            self.metrics.skipped(name, reason, count)
        if recorded:
            total = sum(c for _, _, c in recorded)
            log.info("schedule %s: %d due time(s) skipped, latest %s: %s", name, total, recorded[-1][0],
                     recorded[-1][1])
            # one notification per pass, however long the backlog was
            await self.notify(lgd, "skipped", {"gameday": name, "due": recorded[-1][0], "reason": recorded[-1][1],
                                               "count": total, "first_due": recorded[0][0]})
        if due.candidate is not None:
            assert due.candidate_deadline is not None
            suspended = await self._check_suspend(name, lgd, now)
            await self._admit(name, lgd, row.paused, suspended, due.candidate, due.candidate_deadline, now)
        nxt = next_fires(schedule.cron, schedule.timezone, now, 1)[0]
        self.metrics.scheduled(name, nxt)
        self.schedules.set_next_fire(name, nxt, now)
        if self._announced.get(name) != nxt:
            self._announced[name] = nxt
            await self.notify(lgd, "scheduled", {"gameday": name, "next_fire": nxt})
        return min(nxt, now + RECHECK_S) if held else nxt

    async def _admit(self, name: str, lgd: LoadedGameDay, paused: bool, suspended: str, candidate: float,
                     deadline: float, now: float) -> None:
        schedule = lgd.gameday.spec.schedule
        assert schedule is not None
        own = [f for f in self.schedules.fires(name, states=("running",), limit=100) if f.alive]
        blockers = Blockers(paused=paused, suspended=suspended,
                            blackout=blackout_at(lgd.gameday.spec.blackouts, now, schedule.timezone),
                            own_live=[f.gameday_id for f in own], overlapping=self._overlapping(lgd, own))
        decision = admit(schedule, candidate, deadline, now, blockers)
        if decision.action == "start" and lgd.gameday.spec.gate is not None:
            reading = await self.gate(lgd, now)
            if reading is not None and not reading.open:
                decision = admit(schedule, candidate, deadline, now,
                                 Blockers(own_live=blockers.own_live, gate=reading))
        held = self._held[name]
        if decision.action == "hold":
            if held.get(candidate) != decision.reason:
                log.info("schedule %s: holding %s: %s", name, candidate, decision.reason)
            held[candidate] = decision.reason
            return
        held.pop(candidate, None)
        if decision.action == "skip":
            if self.schedules.skip(name, candidate, decision.reason, now):
                self.metrics.skipped(name, decision.reason)
                log.info("schedule %s: skipped %s: %s", name, candidate, decision.reason)
                await self.notify(lgd, "skipped", {"gameday": name, "due": candidate, "reason": decision.reason})
            return
        foreign = [gid for gid in decision.replace if gid not in self._live]
        if foreign:  # another scheduler process runs it: it cannot be aborted from here
            reason = (f"concurrency Replace: the previous run {', '.join(foreign)} belongs to another scheduler "
                      "process and cannot be aborted from here")
            if self.schedules.skip(name, candidate, reason, now):
                self.metrics.skipped(name, reason)
            return
        for gid in decision.replace:
            log.info("schedule %s: concurrency Replace: aborting %s", name, gid)
            self._live[gid].handle.abort.set()
        self.start(name, lgd, candidate, "schedule")

    def start(self, name: str, lgd: LoadedGameDay, due: float, trigger: str) -> str | None:
        """Claim ``due`` (committed first) and launch; None when it was already claimed."""
        gid = naming.new_run_id()
        now = self.clock.now()
        if not self.schedules.claim(name, due, gid, now, trigger):
            return None
        if trigger == "schedule":
            self.metrics.lag.observe(max(0.0, now - due))
        handle = Handle(gameday_id=gid, schedule=name, due=due)
        handle.on_runs = lambda runs: self.schedules.set_runs(name, due, runs)
        task = asyncio.create_task(self._run(name, lgd, handle, trigger), name=f"gameday-{name}-{gid}")
        self._live[gid] = _Live(handle, task)
        return gid

    async def run_now(self, name: str) -> str | None:
        lgd = self.entries.get(name)
        if lgd is None:
            return None
        return self.start(name, lgd, self.clock.now(), "manual")

    async def _run(self, name: str, lgd: LoadedGameDay, handle: Handle, trigger: str) -> None:
        started = self.clock.now()
        await self.notify(lgd, "started", {"gameday": name, "id": handle.gameday_id, "due": handle.due})
        try:
            finished = await self.launcher(lgd, handle, trigger)
        except Exception as exc:  # a launcher bug must not kill the scheduler; the game day is an error
            log.exception("game day %s failed", handle.gameday_id)
            finished = Finished("error", reason=f"internal error: {exc!r}")
        finally:
            self._live.pop(handle.gameday_id, None)
        now = self.clock.now()
        self.schedules.finish(name, handle.due, finished.verdict, finished.score, finished.report, finished.reason,
                              finished.runs, now)
        self.metrics.finished(name, finished.verdict, now - started, finished.score, now)
        await self._check_suspend(name, lgd, now)
        self.wake.set()

    async def _check_suspend(self, name: str, lgd: LoadedGameDay, now: float) -> str:
        """Suspend after ``suspendAfter`` consecutive failed/aborted game days (orphaned ones count as
        aborted); returns the suspension reason ("" when not suspended). A new suspension is notified
        (``suspended``: webhooks, and an alert when the game day has ``alerting``)."""
        spec = lgd.gameday.spec
        row = self.schedules.schedule(name)
        if row is None:
            return ""
        if row.suspended or not spec.suspend_after:
            return row.suspended
        outcomes = self.schedules.outcomes(name, since=row.resumed)
        if not should_suspend(spec.suspend_after, outcomes):
            return ""
        reason = (f"{spec.suspend_after} consecutive game days failed or aborted "
                  f"({', '.join(outcomes[:spec.suspend_after])}); `aftershock gameday resume {name}`")
        self.schedules.suspend(name, reason, now)
        log.warning("schedule %s suspended: %s", name, reason)
        await self.notify(lgd, "suspended", {"gameday": name, "reason": reason, "at": now})
        return reason

    # ------------------------------------------------------------ observations

    def _overlapping(self, lgd: LoadedGameDay, own: list[Any]) -> list[str]:
        """Other live runs with faults on targets this game day's experiments reach."""
        mine = set().union(*(target_keys(x.experiment) for x in lgd.experiments))
        own_runs = {r for f in own for r in f.runs}
        out: list[str] = []
        seen: set[str] = set()
        for fault in self.runs.faults(live_only=True):
            if fault.run_id in own_runs or fault.run_id in seen:
                continue
            owner = self.runs.run(fault.run_id)
            if owner is None or not owner.alive:
                continue  # a dead run's leftovers: recovered by the engine before it injects
            seen.add(fault.run_id)
            theirs = self._keys_of(owner.source)
            if theirs is None:
                out.append(f"run {fault.run_id} ({owner.experiment}; its targets are unknown)")
            elif theirs & mine:
                out.append(f"run {fault.run_id} ({owner.experiment}) on {', '.join(sorted(theirs & mine))}")
        return out

    def _keys_of(self, source: str) -> set[str] | None:
        if source not in self._sources:
            from chaos.errors import InvalidExperiment
            from chaos.loading import load_file

            try:
                self._sources[source] = target_keys(load_file(source).experiment)
            except InvalidExperiment:
                self._sources[source] = None
        return self._sources[source]

    # ------------------------------------------------------------ the loop

    async def serve(self, stop: asyncio.Event) -> None:
        """Step, sleep until the next fire (or a wake-up), until ``stop``; then abort live game days
        and wait for them (faults removed first by the engine)."""
        while not stop.is_set():
            at = await self.step()
            if stop.is_set():
                break
            await self.clock.sleep_until(at, self.wake)
        await self.shutdown()

    async def shutdown(self) -> None:
        for live in list(self._live.values()):
            live.handle.abort.set()
        tasks = [live.task for live in self._live.values()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def live(self) -> dict[str, Handle]:
        return {gid: live.handle for gid, live in self._live.items()}
