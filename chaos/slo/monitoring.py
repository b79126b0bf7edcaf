"""The SLO monitor: polls Prometheus on every tick and turns results into verdicts (async).

Callers: the run engine (one :class:`Monitor` per Prometheus, shared by every concurrent run that
polls it: ``add(run_id, slos)`` / ``remove(run_id)``, ``async for t, ticks in monitor.run()``),
``aftershock check`` (:meth:`Monitor.evaluate_now`, :meth:`Monitor.evaluate_window`), the demo and
the benchmark. Judging is delegated to the pure :mod:`chaos.slo.evaluation`; only
:mod:`chaos.clients.prometheus` does I/O.

Per tick, every SLO of every subscriber is judged at the *same* evaluation instant (explicit
``time`` on each instant query); identical query strings are sent once per tick, concurrently, at
most ``max_concurrency`` at a time; each query is bounded by ``monitor.timeout`` so a slow one never
delays the tick beyond that. Failed polls (Prometheus unreachable, HTTP error, timeout, refused
query, no data) count per SLO; after ``errorTolerance`` consecutive ones the SLO's verdict is
``unavailable``, and so is the subscriber's ``monitor`` verdict (:data:`~chaos.slo.verdicts.MONITOR`),
which the engine maps to ``monitor.onError``. The first good poll afterwards recovers cleanly.
No global state: two monitors in one process share nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

from chaos.clients.prometheus import PrometheusClient, PrometheusQueryError
from chaos.errors import MonitorUnavailable
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.evaluation import (
    Failure,
    Observation,
    RangeSeries,
    SloState,
    WindowResult,
    judge_instant,
    judge_window,
    monitor_verdict,
    window_failure,
)
from chaos.slo.verdicts import MONITOR, Tick, Verdict

MAX_RANGE_POINTS = 10_000
"""Prometheus refuses range queries over 11,000 points per series; the step grows to stay below."""


def _key(query: str) -> str:
    return query.strip()


class Monitor:
    """Polls one Prometheus for many subscribers (run ids), each with its own SLO states.

    ``client`` defaults to a :class:`~chaos.clients.prometheus.PrometheusClient` built from
    ``settings`` (``url`` overrides ``settings.prometheus``); ``clock`` gives the default evaluation
    time (epoch seconds). Use as ``async with Monitor(spec) as m:`` or call :meth:`aclose`.
    """

    def __init__(self, settings: MonitorSpec, *, client: PrometheusClient | None = None,
                 url: str | None = None, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._own_client = client is None
        self.client = client if client is not None else PrometheusClient(settings, url=url, environ=environ)
        self.clock = clock
        self._subscriptions: dict[str, dict[str, SloState]] = {}
        self.last_observations: dict[str, Observation] = {}
        """Observations of the last tick by query (for a policy engine running its own :class:`SloState`)."""
        self.last_tick_queries = 0
        """Distinct queries sent in the last tick (after de-duplication)."""

    # ------------------------------------------------------------------ subscriptions

    def add(self, subscriber: str, slos: Iterable[Slo], *, error_tolerance: int | None = None) -> None:
        """Register (or replace) ``subscriber``'s SLO set; states start fresh."""
        tolerance = self.settings.error_tolerance if error_tolerance is None else error_tolerance
        states: dict[str, SloState] = {}
        for slo in slos:
            if slo.name in states or slo.name == MONITOR:
                raise ValueError(f"SLO name {slo.name!r} is used twice (or reserved) for {subscriber!r}")
            states[slo.name] = SloState(slo, error_tolerance=tolerance)
        self._subscriptions[subscriber] = states

    def remove(self, subscriber: str) -> None:
        """Stop polling ``subscriber``'s SLOs (unknown subscribers are ignored)."""
        self._subscriptions.pop(subscriber, None)

    @property
    def subscribers(self) -> tuple[str, ...]:
        return tuple(self._subscriptions)

    def states(self, subscriber: str) -> Mapping[str, SloState]:
        return self._subscriptions[subscriber]

    # ------------------------------------------------------------------ polling

    async def _observe_one(self, query: str, eval_time: float) -> Observation:
        started = time.perf_counter()
        try:
            points, seconds = await self.client.query(query, eval_time)
        except PrometheusQueryError as exc:
            return Observation.failed("query", str(exc), time.perf_counter() - started)
        except MonitorUnavailable as exc:
            return Observation.failed("unreachable", str(exc), time.perf_counter() - started)
        return Observation(points=points, query_seconds=seconds)

    async def observe(self, queries: Iterable[str], eval_time: float) -> dict[str, Observation]:
        """Run each distinct query once at ``eval_time``, concurrently; never raises for a failed poll."""
        unique = list(dict.fromkeys(_key(q) for q in queries))
        results = await asyncio.gather(*(self._observe_one(q, eval_time) for q in unique))
        self.last_tick_queries = len(unique)
        return dict(zip(unique, results, strict=True))

    async def tick(self, eval_time: float | None = None) -> dict[str, Tick]:
        """Judge every subscriber's SLOs at ``eval_time`` (default: now) → ``{subscriber: Tick}``.

        Each tick ends with the subscriber's ``monitor`` verdict.
        """
        t = self.clock() if eval_time is None else float(eval_time)
        subscriptions = list(self._subscriptions.items())
        observations = await self.observe(
            (state.slo.query for _, states in subscriptions for state in states.values()), t)
        self.last_observations = observations
        out: dict[str, Tick] = {}
        for subscriber, states in subscriptions:
            if self._subscriptions.get(subscriber) is not states:
                continue  # removed or replaced while the queries ran
            verdicts = [state.observe(t, observations[_key(state.slo.query)]) for state in states.values()]
            tolerance = next(iter(states.values())).error_tolerance if states else self.settings.error_tolerance
            verdicts.append(monitor_verdict(verdicts, t, tolerance))
            out[subscriber] = Tick(eval_time=t, verdicts=tuple(verdicts))
        return out

    async def run(self, interval_s: float | None = None, *, align: bool = True
                  ) -> AsyncIterator[tuple[float, dict[str, Tick]]]:
        """Tick forever every ``interval_s`` (default ``monitor.interval``) → ``(eval_time, ticks)``.

        Evaluation times are aligned to multiples of the interval; a tick that overran skips the
        instants it missed instead of bunching up.
        """
        interval = self.settings.interval_s if interval_s is None else interval_s
        if interval <= 0:
            raise ValueError("interval must be positive")
        next_t = self.clock()
        if align:
            next_t = math.ceil(next_t / interval) * interval
        while True:
            delay = next_t - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            ticks = await self.tick(next_t)
            yield next_t, ticks
            next_t += interval
            now = self.clock()
            if next_t < now:
                next_t += math.ceil((now - next_t) / interval) * interval

    async def evaluate_now(self, slos: Iterable[Slo], eval_time: float | None = None) -> Tick:
        """One-shot judgement of ``slos`` at one instant (``for``/``consecutive`` do not apply).

        Verdicts are ``ok``, ``breached``, ``no-data`` (empty/NaN/refused query) or ``unavailable``
        (Prometheus could not be queried; ``failure == "unreachable"``). No ``monitor`` verdict.
        """
        slos = list(slos)
        t = self.clock() if eval_time is None else float(eval_time)
        observations = await self.observe((s.query for s in slos), t)
        return Tick(eval_time=t, verdicts=tuple(judge_instant(s, t, observations[_key(s.query)]) for s in slos))

    async def evaluate_window(self, slos: Iterable[Slo], window_s: float, step_s: float | None = None,
                              end: float | None = None) -> list[WindowResult]:
        """Did each SLO hold over the last ``window_s``? One range query per distinct query.

        ``step_s`` defaults to ``monitor.interval`` (grown so a series has at most
        :data:`MAX_RANGE_POINTS`); ``end`` defaults to now. Times are whole seconds (the client
        library rounds them). ``for``/``consecutive`` apply as they would live.
        """
        slos = list(slos)
        if window_s <= 0:
            raise ValueError("window must be positive")
        step = self.settings.interval_s if step_s is None else step_s
        step = max(step, math.ceil(window_s / MAX_RANGE_POINTS))
        stop = float(math.floor(self.clock() if end is None else end))
        start = float(math.floor(stop - window_s))
        unique = list(dict.fromkeys(_key(s.query) for s in slos))

        async def one(query: str) -> _RangeAnswer:
            started = time.perf_counter()
            try:
                series, seconds = await self.client.query_range(query, start, stop, step)
            except PrometheusQueryError as exc:
                return _RangeAnswer((), "query", str(exc), time.perf_counter() - started)
            except MonitorUnavailable as exc:
                return _RangeAnswer((), "unreachable", str(exc), time.perf_counter() - started)
            return _RangeAnswer(series, None, "", seconds)

        answers = dict(zip(unique, await asyncio.gather(*(one(q) for q in unique)), strict=True))
        out: list[WindowResult] = []
        for slo in slos:
            a = answers[_key(slo.query)]
            if a.failure is not None:
                out.append(window_failure(slo, start, stop, step, a.failure, a.error, a.seconds))
            else:
                out.append(judge_window(slo, a.series, start, stop, step, a.seconds))
        return out

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Release the connection and worker pool (only when the monitor created the client)."""
        self._subscriptions.clear()
        if self._own_client:
            await self.client.aclose()

    async def __aenter__(self) -> Monitor:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Monitor({self.client!r}, subscribers={len(self._subscriptions)})"


@dataclass(frozen=True)
class _RangeAnswer:
    series: tuple[RangeSeries, ...]
    failure: Failure | None
    error: str
    seconds: float


def verdicts_of(ticks: Mapping[str, Tick], subscriber: str) -> dict[str, Verdict]:
    """``{slo: verdict}`` of one subscriber's tick (convenience for the engine and tests)."""
    tick = ticks.get(subscriber)
    return {v.slo: v for v in tick.verdicts} if tick else {}
