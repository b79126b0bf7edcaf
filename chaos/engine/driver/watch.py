"""While the faults are live: the monitoring loop — when the next tick is due (scrape-aligned,
bounded by the interval and the fault window, woken by a user command or a probe result), the tick
itself, and every few seconds whether the run's faults are still where it put them.

A part of :class:`chaos.engine.driver.Engine` (the ``NextTick`` step of
:func:`chaos.engine.runs.lifecycle`); callers: the driver package only.
"""

from __future__ import annotations

import math

from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.driver.state import EngineParts, RunState
from chaos.slo.monitoring import Monitor
from chaos.slo.verdicts import Tick
from chaos.targets import silences

PRESENCE_EVERY_S = 2.0
"""How often a run checks that its faults are still where it put them."""


class Watch(EngineParts):
    """The monitoring loop of a run's fault window."""

    async def _next_tick(self, run: RunState, window_end: float) -> rm.TickOutcome:
        """Wait for the next monitor interval (monotonic) or the end of the fault window (an epoch
        deadline), whichever is first — or a user command.

        Scrape-aligned (:meth:`Monitor.next_due`): right after the next scrape can be queried, never
        later than the interval after the last tick. The first tick after injection waits for the
        first scrape after the injection when the steady-state check already taught the monitor the
        scrape cadence (no sample before it can show the fault, and the check just evaluated every
        SLO); with the cadence unknown it evaluates at once, which teaches it.
        """
        interval = run.experiment.spec.monitor.interval_s
        now = self.clock.wall()
        wait = 0.0
        last = self._last_evaluation(run)
        if last is not None and run.monitor is not None:
            last_mono, last_wall = last
            # after the injection: a scrape taken after it, not one merely ingested after it
            due = run.monitor.next_due(run.run_id, last_wall, interval, taken_after=run.last_tick is None)
            wait = min(last_mono + interval - self.clock.monotonic(), due - now)
        wait = min(wait, window_end - now)
        timer = self.clock.monotonic() + wait
        if run.command is None and wait > 0:
            await self.clock.wait(run.wake, wait)
        run.wake.clear()
        # woken early by a probe result (not by the timer or a command): judge the probes only
        probes_only = (run.command is None and run.monitor is not None and run.monitor.has_probes(run.run_id)
                       and self.clock.monotonic() < timer - 1e-3 and run.last_tick is not None)
        if run.command is not None:
            command, run.command = run.command, (run.command if run.command == "abort" else None)
            return rm.TickOutcome(at=self.clock.wall(), command="abort" if command == "abort" else "rollback")
        now = self.clock.wall()
        if now >= window_end:
            return rm.TickOutcome(at=now, tick=None)
        if not probes_only:
            run.last_tick, run.last_eval = self.clock.monotonic(), now
        tick = await self._tick(run, now, probes_only=probes_only)
        return rm.TickOutcome(at=self.clock.wall(), tick=tick)

    def _last_evaluation(self, run: RunState) -> tuple[float, float] | None:
        """(monotonic, wall) of the evaluation the next tick is paced from; None: tick at once."""
        if run.last_tick is not None:
            return run.last_tick, run.last_eval
        if run.monitor is None or run.injected is None:
            return None
        self._subscribe(run, run.monitor)
        _, injected_wall = run.injected
        if run.monitor.next_due(run.run_id, injected_wall, math.inf, taken_after=True) == math.inf:
            return None  # no scrape cadence known yet: evaluate now, which learns it
        return run.injected

    @staticmethod
    def _subscribe(run: RunState, monitor: Monitor) -> None:
        if run.run_id not in monitor.subscribers:
            monitor.add(run.run_id, run.experiment.spec.slos, error_tolerance=run.experiment.spec.monitor.error_tolerance,
                        on_result=run.wake.set)

    async def _tick(self, run: RunState, now: float, *, probes_only: bool = False) -> Tick:
        assert run.monitor is not None
        self._subscribe(run, run.monitor)
        ticks = await run.monitor.tick(eval_time=now, probes_only=probes_only)
        await self._notice_missing(run)
        return ticks.get(run.run_id, Tick(eval_time=now))

    async def _notice_missing(self, run: RunState) -> None:
        """Every few seconds, ask the injector whether each live fault is still there; say so when not."""
        target = run.target
        if target is None or self.clock.monotonic() - run.last_presence < PRESENCE_EVERY_S:
            return
        run.last_presence = self.clock.monotonic()
        for row in self.store.faults(run.run_id, live_only=True):
            if row.kind == silences.KIND:
                continue
            left = run.deadlines.get(row.fault, row.deadline) - self.clock.wall()
            if row.state != "injected" or row.fault in run.missing or left < PRESENCE_EVERY_S:
                continue
            if await target.present(row.realisation) is False:
                run.missing.add(row.fault)
                self._publish(run, ev.RunLog(
                    run_id=run.run_id, at=self.clock.wall(), level="warning",
                    message=f"fault {row.fault} was already gone {left:.0f}s before its deadline: "
                            "something else removed it (an operator, `aftershock recover --all`, a restarted "
                            "injector); SLO samples from now on are taken without it"))
