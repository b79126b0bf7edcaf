"""Probe SLOs inside the monitor (async): each probe runs on its own interval, concurrently, and its
results queue up until the monitor's next tick judges them, one evaluation per result.

Used by :class:`chaos.slo.monitoring.Monitor` only. A :class:`ProbeLoop` owns one probe runner (the
probe kind's, from the registry); ``on_result`` is called after every result so the run wakes up and
ticks (a probe's consecutive failures are never merged into one tick). A result becomes an
:class:`~chaos.slo.evaluation.Observation` whose value is 1 (held) or 0 (failed): a probe SLO's
objective is ``== 1``, so one failed probe is one breached evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from chaos import registry, timers
from chaos.model.kinds import ProbeContext, ProbeResult, ProbeRunner
from chaos.model.slos import Slo
from chaos.slo.evaluation import Observation, Point, SloState, judge_instant
from chaos.slo.verdicts import Verdict

log = logging.getLogger("aftershock.probes")
MAX_QUEUED = 10_000
"""Results kept between two ticks (a stalled consumer never grows memory without bound)."""
COALESCE_S = 0.005
"""Results of one subscriber's probes within this long wake its consumer once: many probes finishing
together are judged in one tick (each result still one evaluation, in order), not one tick each."""
STOP_RETRY_S = 1.0
"""How long :meth:`ProbeLoop.stop` waits before it cancels a probe loop again."""


class Coalesced:
    """``on_result`` of every probe of one subscriber: calls ``wake`` once per :data:`COALESCE_S` burst."""

    def __init__(self, wake: Callable[[], None], delay_s: float = COALESCE_S) -> None:
        self.wake = wake
        self.delay_s = delay_s
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self.delay_s, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self.wake()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


def observation(slo: Slo, result: ProbeResult, seconds: float, kind: str | None = None) -> Observation:
    assert slo.probe is not None
    labels = {"probe": kind or slo.probe.kind}
    if result.value is not None:
        labels["measured"] = f"{result.value:.6g}"
    return Observation(points=(Point(labels, 1.0 if result.ok else 0.0),), query_seconds=seconds)


def with_detail(verdict: Verdict, slo: Slo, result: ProbeResult | None, source: str | None = None) -> Verdict:
    """The verdict as a probe says it: its source in words, the failure reason as ``error``."""
    error = result.detail if result is not None and not result.ok else verdict.error
    return replace(verdict, query=source or slo.source, error=error)


def make_runner(slo: Slo, ctx: ProbeContext) -> ProbeRunner:
    assert slo.probe is not None
    return registry.probes.require(slo.probe.kind).runner(slo.probe.block, ctx)


async def observe_once(runner: ProbeRunner) -> tuple[ProbeResult, float]:
    started = time.perf_counter()
    try:
        result = await runner.observe()
    except Exception as exc:  # a probe kind's bug is a failed probe, not a dead monitor
        log.exception("probe failed")
        result = ProbeResult(False, None, f"the probe raised {type(exc).__name__}: {exc}")
    return result, time.perf_counter() - started


@dataclass
class _Result:
    """A probe's last result, when it was taken and how long it took."""

    at: float
    result: ProbeResult
    seconds: float


class ProbeLoop:
    """One probe SLO of one subscriber: runs every ``interval_s`` from :meth:`start` until :meth:`stop`."""

    def __init__(self, slo: Slo, ctx: ProbeContext, interval_s: float, clock: Callable[[], float],
                 on_result: Callable[[], None] | None = None) -> None:
        self.slo = slo
        self.ctx = ctx
        self.interval_s = interval_s
        self.clock = clock
        self.on_result = on_result
        self.queue: list[_Result] = []
        self.task: asyncio.Task[None] | None = None
        self.last: ProbeResult | None = None
        self.count = 0
        assert slo.probe is not None
        self.kind = slo.probe.kind
        self.source = slo.source

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name=f"probe-{self.slo.name}")

    async def _run(self) -> None:
        runner = make_runner(self.slo, self.ctx)
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while True:
                at = self.clock()
                result, seconds = await observe_once(runner)
                self.count += 1
                if len(self.queue) < MAX_QUEUED:
                    self.queue.append(_Result(at, result, seconds))
                if self.on_result is not None:
                    self.on_result()
                due += self.interval_s
                now = loop.time()
                if due <= now:  # overran (a slow probe): skip the instants it missed
                    due = now
                    await asyncio.sleep(0)
                else:  # one loop timer for every probe due at once (chaos.timers)
                    await timers.sleep_until(due)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(runner.aclose())

    def judge(self, state: SloState, eval_time: float) -> Verdict:
        """Feed every queued result to ``state`` in order → the verdict of the latest one (or the
        previous verdict when nothing new came; ``no-data`` before the first result)."""
        queued, self.queue = self.queue, []
        verdict = state.last
        for item in queued:
            result = item.result
            verdict = state.observe(item.at, observation(self.slo, result, item.seconds, self.kind),
                                    query=self.source, error=None if result.ok else result.detail)
            self.last = result
        if verdict is None:
            waiting = judge_instant(self.slo, eval_time, Observation.failed("no-data", "waiting for the first probe"))
            return with_detail(waiting, self.slo, None)
        state.last = verdict
        return verdict

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended. A cancel that a probe kind's library swallows
        (``asyncio.wait_for`` on Python 3.11 returns the result that raced the cancel) is sent again
        each second, so a stopped probe never runs on."""
        task, self.task = self.task, None
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait((task,), timeout=STOP_RETRY_S)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()


async def judge_now(slos: list[Slo], ctx: ProbeContext, eval_time: float) -> dict[str, Verdict]:
    """One-shot probes (steady-state checks, ``aftershock check``), concurrently → verdict by SLO name."""

    async def one(slo: Slo) -> Verdict:
        runner = make_runner(slo, ctx)
        try:
            result, seconds = await observe_once(runner)
        finally:
            with contextlib.suppress(Exception):
                await runner.aclose()
        return with_detail(judge_instant(slo, eval_time, observation(slo, result, seconds)), slo, result)

    verdicts = await asyncio.gather(*(one(s) for s in slos))
    return {v.slo: v for v in verdicts}
