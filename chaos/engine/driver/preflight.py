"""Before anything is injected: the run's target built and checked, faults of dead runs recovered,
the actuators made, the monitor warmed up; the error-budget gate measured; the steady state judged
(before the faults and, bounded, after them).

A part of :class:`chaos.engine.driver.Engine` (the ``Preflight``, ``MeasureGate``, ``CheckSteady`` and
``AwaitSteady`` steps of :func:`chaos.engine.runs.lifecycle`); callers: the driver package only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence

from chaos.engine import events as ev
from chaos.engine import runs as rm
from chaos.engine.driver.state import EngineParts, RunState
from chaos.errors import ChaosError, InvalidExperiment, PreflightRefused
from chaos.slo.monitoring import read_bad_ratios
from chaos.targets.base import TargetContext
from chaos.targets.plugin_actions import PluginActions
from chaos.targets.recovery import recover_faults

log = logging.getLogger("aftershock.engine")


class Preflight(EngineParts):
    """The steps around the steady state: pre-flight, gate, steady-state checks."""

    async def _preflight(self, run: RunState) -> rm.PreflightOutcome:
        # while the target's checks wait on their round trips, ask Prometheus the steady-state SLOs
        # once (discarded): it connects, and it teaches the monitor each selector's newest sample, so
        # the steady-state check proper confirms the scrape interval (two consecutive samples) and
        # the first tick after injection lands right after the first scrape that can show the fault
        warm = asyncio.create_task(self._warm_monitor(run)) if run.experiment.spec.steady_state else None
        try:
            outcome = await self._preflight_checks(run)
        except BaseException:  # cancelled (Ctrl-C) or a bug: the query is not worth waiting for
            if warm is not None:
                warm.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await warm
            raise
        if warm is not None:
            await warm  # before the steady-state check: one evaluation at a time per monitor
        return outcome

    async def _warm_monitor(self, run: RunState) -> None:
        if run.monitor is None or run.dry_run:
            return
        slos = [run.experiment.spec.slo(n) for n in run.experiment.spec.steady_state]
        with contextlib.suppress(ChaosError):
            await run.monitor.evaluate_now(slos, eval_time=self.clock.wall())

    async def _preflight_checks(self, run: RunState) -> rm.PreflightOutcome:
        try:
            target = run.target = self.targets(TargetContext(run_id=run.run_id, loaded=run.loaded, store=self.store,
                                                             settings=self.settings, environ=self.environ))
            recovered = await recover_faults(self.store, kinds=target.recover_kinds, environ=self.environ)
            checks, targets = await target.preflight()
            if recovered.removed:
                checks.insert(0, f"recovered {len(recovered.removed)} fault(s) left by dead runs")
            for bad in recovered.damaged:  # skipped, said; the run and every other recovery go on
                log.warning("pre-flight recovery: %s", bad.describe())
            run.http = self.http()
            plugins = PluginActions(run.run_id, run.experiment.name, self.environ, self.store.dir)
            run.actuators = target.actuators([*run.http, plugins])
        except (PreflightRefused, InvalidExperiment) as exc:
            details = tuple(getattr(exc, "details", ()))
            return rm.PreflightOutcome(at=self.clock.wall(), ok=False, refused=True,
                                       error=str(exc).split("\n")[0], details=details)
        except ChaosError as exc:
            return rm.PreflightOutcome(at=self.clock.wall(), ok=False, error=str(exc),
                                       details=tuple(getattr(exc, "details", ())))
        return rm.PreflightOutcome(at=self.clock.wall(), checks=tuple(checks), targets=tuple(targets))

    async def _measure_gate(self, run: RunState, queries: Mapping[str, str]) -> rm.GateOutcome:
        assert run.monitor is not None
        try:
            bad = await read_bad_ratios(run.monitor.client, queries, self.clock.wall())
        except ChaosError as exc:
            return rm.GateOutcome(at=self.clock.wall(), ok=False, error=str(exc))
        return rm.GateOutcome(at=self.clock.wall(), bad=bad)

    async def _check_steady(self, run: RunState, slos: Sequence[str], *, sample_all: bool = False) -> rm.SteadyOutcome:
        assert run.monitor is not None
        objs = list(run.experiment.spec.slos) if sample_all else [run.experiment.spec.slo(n) for n in slos]
        try:
            tick = await run.monitor.evaluate_now(objs, eval_time=self.clock.wall())
        except ChaosError as exc:
            return rm.SteadyOutcome(at=self.clock.wall(), holds=False, error=str(exc))
        if sample_all and not run.dry_run:
            self._publish(run, ev.SloSampled(run_id=run.run_id, at=tick.eval_time, tick=tick))
        verdicts = tuple(v for v in tick.verdicts if v.slo in slos)
        holds = bool(verdicts) and all(v.holds for v in verdicts)
        return rm.SteadyOutcome(at=self.clock.wall(), holds=holds, verdicts=verdicts)

    async def _await_steady(self, run: RunState, slos: Sequence[str], timeout_s: float) -> rm.SteadyOutcome:
        """Judge the steady state until it holds (bounded). Every SLO keeps being sampled meanwhile
        (``SloSampled``), so the charts go on from the breach to the judgement with measured points."""
        start = self.clock.monotonic()
        interval = max(run.experiment.spec.monitor.interval_s, 0.25)
        while True:
            last = await self._check_steady(run, slos, sample_all=True)
            if last.holds or run.command == "abort":
                break
            remaining = start + timeout_s - self.clock.monotonic()
            if remaining <= 0:
                break
            await self.clock.wait(run.wake, min(interval, remaining))
            run.wake.clear()
        waited = round(self.clock.monotonic() - start, 3)
        return dataclasses.replace(last, at=self.clock.wall(), seconds=waited,
                                   aborted=run.command == "abort" and not last.holds)
