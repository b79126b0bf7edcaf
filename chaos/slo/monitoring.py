"""The SLO monitor: polls Prometheus on every tick and turns results into verdicts (async).

Callers: the run engine (one :class:`Monitor` per Prometheus, shared by every concurrent run that
polls it: ``add(run_id, slos)`` / ``remove(run_id)``, ``async for t, ticks in monitor.run()``),
``aftershock check`` (:meth:`Monitor.evaluate_now`, :meth:`Monitor.evaluate_window`), the error-budget
gate (:func:`read_bad_ratios`), the demo and
the benchmark. Judging is delegated to the pure :mod:`chaos.slo.evaluation`; only
:mod:`chaos.clients.prometheus` does I/O.

Per tick, every SLO of every subscriber is judged at the *same* evaluation instant (explicit
``time`` on each instant query); identical query strings are sent once per tick, batched into
PromQL requests of at most :data:`BATCH_MEMBERS` expressions and about equal cost (each expression
labelled with its tag, joined with ``or`` as a balanced tree, :mod:`chaos.slo.cadence`), at most
``max_concurrency`` requests at a time; each request is bounded
by ``monitor.timeout`` so a slow one never delays the tick beyond that.

**When** to tick: :meth:`Monitor.next_due` — right after the next scrape of a subscriber's
selectors can be queried (phase and interval learnt from sample timestamps that every batch
probes), never later than ``monitor.interval`` after the last tick. So a breach is seen within a
few milliseconds of the scrape that shows it, with about one request per scrape interval; a
selector whose samples stop arriving makes its SLOs' polls fail (``no-data``), never hold. Failed polls (Prometheus unreachable, HTTP error, timeout, refused
query, no data) count per SLO; after ``errorTolerance`` consecutive ones the SLO's verdict is
``unavailable``, and so is the subscriber's ``monitor`` verdict (:data:`~chaos.slo.verdicts.MONITOR`),
which the engine maps to ``monitor.onError``. The first good poll afterwards recovers cleanly.
No global state: two monitors in one process share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from chaos.clients.prometheus import PrometheusClient, PrometheusQueryError
from chaos.errors import MonitorUnavailable
from chaos.model.kinds import ProbeContext
from chaos.model.slos import MonitorSpec, Slo
from chaos.slo.cadence import (
    LEARN_WINDOW_S,
    Cadence,
    Plan,
    count_probe,
    join,
    member,
    newest_probe,
    next_evaluation,
    partition,
    plan,
    previous_probe,
    split,
)
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
from chaos.slo.probing import Coalesced, ProbeLoop, judge_now
from chaos.slo.verdicts import MONITOR, Tick, Verdict

MAX_RANGE_POINTS = 10_000
"""Prometheus refuses range queries over 11,000 points per series; the step grows to stay below."""


BATCH_MEMBERS = 100
"""Expressions per batched request (queries and probes); larger ticks send several of about equal
cost, concurrently, so Prometheus evaluates them on all its cores (``docs/benchmarks.md``, "Monitor")."""


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
                 clock: Callable[[], float] = time.time, probe_context: ProbeContext | None = None) -> None:
        self.settings = settings
        self.probe_context = probe_context or ProbeContext(environ=dict(environ if environ is not None else os.environ),
                                                           timeout_s=settings.timeout_s)
        """What probe SLOs run with (environment, Kubernetes context, default timeout)."""
        self._probes: dict[str, dict[str, ProbeLoop]] = {}
        self._own_client = client is None
        self.client = client if client is not None else PrometheusClient(settings, url=url, environ=environ)
        self.batching = bool(getattr(self.client, "batching", True))
        """False for a client that answers only plain SLO queries (a scripted world in tests): no batch,
        no freshness probes, the ``interval`` timer alone paces the ticks."""
        self.clock = clock
        self._subscriptions: dict[str, dict[str, SloState]] = {}
        self.last_observations: dict[str, Observation] = {}
        """Observations of the last tick by query (for a policy engine running its own :class:`SloState`)."""
        self.last_tick_queries = 0
        """Distinct queries judged in the last tick (after de-duplication)."""
        self.last_tick_requests = 0
        """HTTP requests the last tick sent (batches plus queries sent on their own)."""
        self._plans: dict[str, Plan] = {}
        self._cadences: dict[str, Cadence] = {}
        self._solo: set[str] = set()
        self._unprobed: set[str] = set()
        self.batch_members = BATCH_MEMBERS
        """Expressions per request (the requests of a tick share the cost evenly); halved when
        Prometheus refuses a batch whose members pass alone."""

    # ------------------------------------------------------------------ subscriptions

    def add(self, subscriber: str, slos: Iterable[Slo], *, error_tolerance: int | None = None,
            on_result: Callable[[], None] | None = None) -> None:
        """Register (or replace) ``subscriber``'s SLO set; states start fresh. Probe SLOs start
        probing now (inside a running loop; else at the first tick), each on its own interval;
        ``on_result`` is called after every probe result (the driver ticks then)."""
        tolerance = self.settings.error_tolerance if error_tolerance is None else error_tolerance
        states: dict[str, SloState] = {}
        probes: dict[str, ProbeLoop] = {}
        wake = Coalesced(on_result) if on_result is not None else None  # a burst of results: one tick
        for slo in slos:
            if slo.name in states or slo.name == MONITOR:
                raise ValueError(f"SLO name {slo.name!r} is used twice (or reserved) for {subscriber!r}")
            states[slo.name] = SloState(slo, error_tolerance=tolerance)
            if slo.probe is not None:
                interval = slo.probe.interval_s(self.settings.interval_s)
                ctx = dataclasses.replace(self.probe_context, timeout_s=min(self.probe_context.timeout_s, interval))
                probes[slo.name] = ProbeLoop(slo, ctx, interval, self.clock, wake)
        self._stop_probes(subscriber)
        self._subscriptions[subscriber] = states
        self._probes[subscriber] = probes
        with contextlib.suppress(RuntimeError):  # no running loop: started by the first tick
            asyncio.get_running_loop()
            for loop in probes.values():
                loop.start()

    def remove(self, subscriber: str) -> None:
        """Stop polling ``subscriber``'s SLOs (unknown subscribers are ignored)."""
        self._subscriptions.pop(subscriber, None)
        self._stop_probes(subscriber)

    def _stop_probes(self, subscriber: str) -> None:
        for loop in self._probes.pop(subscriber, {}).values():
            task = loop.task
            if task is not None:
                task.cancel()
            loop.task = None

    def has_probes(self, subscriber: str) -> bool:
        return bool(self._probes.get(subscriber))

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

    def _plan(self, query: str) -> Plan:
        found = self._plans.get(query)
        if found is None:
            found = self._plans[query] = plan(query)
        return found

    def _cadence(self, selector: str) -> Cadence:
        found = self._cadences.get(selector)
        if found is None:
            found = self._cadences[selector] = Cadence()
        return found

    async def _batch(self, members: list[tuple[str, str]], queries: Mapping[str, str],
                     probes: Mapping[str, str], eval_time: float) -> dict[str, Observation]:
        """One request for ``members`` (``(tag, expression)``) → observation per tag.

        When Prometheus refuses the batch, each SLO query of it is sent on its own (and a query
        refused on its own is never batched again); probes of a refused batch are dropped.
        """
        tags = [tag for tag, _ in members]
        try:
            points, seconds = await self.client.query(join([expr for _, expr in members]), eval_time)
        except PrometheusQueryError as exc:
            if len(members) == 1:  # the one expression of the batch is what Prometheus refused
                if tags[0] in queries:
                    self._solo.add(queries[tags[0]])
                if tags[0] in probes:
                    self._unprobed.add(probes[tags[0]])
                return {tags[0]: Observation.failed("query", str(exc))}
            # find the culprit: every member on its own (a refused query or probe is never batched again)
            answers = await asyncio.gather(*(self._batch([m], queries, probes, eval_time) for m in members))
            out = {tag: found for answer in answers for tag, found in answer.items()}
            if not any(found.failure == "query" for found in out.values()):
                # each one passes alone: the batch itself was too much (e.g. Prometheus' sample limit)
                self.batch_members = max(1, len(members) // 2)
            return out
        except MonitorUnavailable as exc:
            failed = Observation.failed("unreachable", str(exc))
            return dict.fromkeys(tags, failed)
        return {tag: Observation(points=found, query_seconds=seconds)
                for tag, found in split(points, tags).items()}

    async def observe(self, queries: Iterable[str], eval_time: float) -> dict[str, Observation]:
        """Run each distinct query once at ``eval_time``; never raises for a failed poll.

        The queries and the freshness probes of their selectors go out in as few requests as
        :attr:`batch_members` allows (concurrently, at most ``max_concurrency`` at a time); the
        probes update the scrape cadences, and a query whose selector stopped updating is a
        failed poll (``no-data``), never a holding one.
        """
        unique = list(dict.fromkeys(_key(q) for q in queries if _key(q)))
        plans = {q: self._plan(q) for q in unique}
        batched = [q for q in unique if self.batching and plans[q].batchable and q not in self._solo]
        in_batch = set(batched)
        solo = [q for q in unique if q not in in_batch]
        selectors = list(dict.fromkeys(sel for q in unique for sel in plans[q].selectors)) if self.batching else []
        members: list[tuple[str, str]] = [(f"q{i}", member(f"q{i}", plans[q])) for i, q in enumerate(batched)]
        costs = [plans[q].cost for q in batched]
        by_tag = {f"q{i}": q for i, q in enumerate(batched)}
        probes: dict[str, str] = {}
        for j, sel in enumerate(selectors):
            if sel in self._unprobed:
                continue
            probes.update({f"{kind}{j}": sel for kind in "ncp"})
            cadence = self._cadence(sel)
            if cadence.interval_s is None:
                members.append((f"c{j}", count_probe(f"c{j}", sel)))
                costs.append(LEARN_WINDOW_S)
            members.append((f"n{j}", newest_probe(f"n{j}", sel)))
            costs.append(1.0)
            anchor = cadence.wants_previous()
            if anchor is not None:
                members.append((f"p{j}", previous_probe(f"p{j}", sel, anchor)))
                costs.append(1.0)
        chunks = [[members[i] for i in group] for group in partition(costs, self.batch_members)]
        results = await asyncio.gather(*(self._batch(chunk, by_tag, probes, eval_time) for chunk in chunks),
                                       *(self._observe_one(q, eval_time) for q in solo))
        answers: dict[str, Observation] = {}
        for found in results[:len(chunks)]:
            assert isinstance(found, dict)
            answers.update(found)
        self.last_tick_queries = len(unique)
        self.last_tick_requests = len(chunks) + len(solo)
        stale: dict[str, str] = {}
        for j, sel in enumerate(selectors):
            probe = answers.get(f"n{j}")
            if probe is None or probe.failure is not None:
                continue  # the batch failed: nothing learnt about this selector
            cadence = self._cadence(sel)
            count = answers.get(f"c{j}")
            if count is not None and count.points:
                cadence.guess_interval(count.points[0].value)
            before = answers.get(f"p{j}")
            if before is not None and before.failure is None:
                cadence.saw_previous(before.points[0].value if before.points else None)
            newest = probe.points[0].value if probe.points else None
            reason = cadence.stale(newest, eval_time)
            if reason:
                stale[sel] = reason
            cadence.saw(newest, eval_time)
        out: dict[str, Observation] = {}
        for tag, q in by_tag.items():
            out[q] = answers.get(tag) or Observation.failed("query", "no answer for the query in its batch")
        for q, found in zip(solo, results[len(chunks):], strict=True):
            assert isinstance(found, Observation)
            out[q] = found
        for q in unique:
            bad = next((sel for sel in plans[q].selectors if sel in stale), None)
            if bad is not None and out[q].failure is None:
                out[q] = Observation.failed("no-data", f"no data: {bad} stopped updating: {stale[bad]}",
                                            out[q].query_seconds)
        return out

    def next_due(self, subscriber: str, after: float, interval_s: float | None = None, *,
                 taken_after: bool = False) -> float:
        """When ``subscriber``'s SLOs should next be evaluated, the last evaluation being at ``after``.

        Right after the next scrape of their selectors can be queried (learnt from sample
        timestamps, :mod:`chaos.slo.cadence`), and never later than ``after + interval``
        (``monitor.interval``, the user's upper bound; the only rule while no cadence is known).
        ``taken_after``: wait for a scrape taken after ``after`` (the first tick after an injection).
        """
        interval = self.settings.interval_s if interval_s is None else interval_s
        timer = after + interval
        states = self._subscriptions.get(subscriber, {})
        selectors = {sel for state in states.values() if not state.slo.is_probe
                     for sel in self._plan(_key(state.slo.query)).selectors}
        fresh = next_evaluation({sel: self._cadences[sel] for sel in selectors if sel in self._cadences}, after,
                                taken_after=taken_after)
        return timer if fresh is None else min(timer, fresh)

    async def tick(self, eval_time: float | None = None, *, probes_only: bool = False) -> dict[str, Tick]:
        """Judge every subscriber's SLOs at ``eval_time`` (default: now) → ``{subscriber: Tick}``.

        Each tick ends with the subscriber's ``monitor`` verdict. Probe SLOs are judged from the results
        their probes queued since the last tick (one evaluation each). ``probes_only`` (a tick woken by
        a probe result): Prometheus is not asked; PromQL SLOs repeat their last verdict.
        """
        t = self.clock() if eval_time is None else float(eval_time)
        subscriptions = list(self._subscriptions.items())
        for subscriber, _ in subscriptions:
            for loop in self._probes.get(subscriber, {}).values():
                loop.start()
        observations = await self.observe(
            (state.slo.query for _, states in subscriptions for state in states.values()
             if not state.slo.is_probe and not probes_only), t) if not probes_only else {}
        if not probes_only:
            self.last_observations = observations
        out: dict[str, Tick] = {}
        for subscriber, states in subscriptions:
            if self._subscriptions.get(subscriber) is not states:
                continue  # removed or replaced while the queries ran
            probes = self._probes.get(subscriber, {})
            verdicts = []
            for name, state in states.items():
                probe = probes.get(name)
                if probe is not None:  # nothing new from it: its last verdict (ProbeLoop.judge, without the call)
                    verdicts.append(state.last if not probe.queue and state.last is not None else probe.judge(state, t))
                elif not probes_only:
                    verdicts.append(state.observe(t, observations[_key(state.slo.query)]))
                elif state.last is not None:
                    verdicts.append(state.last)  # not evaluated again: the same sample (the decider counts it once)
            tolerance = next(iter(states.values())).error_tolerance if states else self.settings.error_tolerance
            verdicts.append(monitor_verdict(verdicts, t, tolerance))
            out[subscriber] = Tick(eval_time=t, verdicts=tuple(verdicts))
        return out

    async def run(self, interval_s: float | None = None, *, align: bool = True
                  ) -> AsyncIterator[tuple[float, dict[str, Tick]]]:
        """Tick forever → ``(eval_time, ticks)``, right after new samples can exist (:meth:`next_due`
        of every subscriber) and at least every ``interval_s`` (default ``monitor.interval``).

        The first tick is aligned to a multiple of the interval (``align``); a tick that overran
        skips the instants it missed instead of bunching up.
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
            last = next_t
            next_t = min((self.next_due(s, last, interval) for s in self._subscriptions), default=last + interval)
            now = self.clock()
            if next_t < now:
                next_t = now

    @property
    def cadences(self) -> Mapping[str, Cadence]:
        """What the monitor learnt about each selector's scrapes (read-only view, by selector)."""
        return dict(self._cadences)

    async def evaluate_now(self, slos: Iterable[Slo], eval_time: float | None = None) -> Tick:
        """One-shot judgement of ``slos`` at one instant (``for``/``consecutive`` do not apply).

        Verdicts are ``ok``, ``breached``, ``no-data`` (empty/NaN/refused query) or ``unavailable``
        (Prometheus could not be queried; ``failure == "unreachable"``). No ``monitor`` verdict.
        """
        slos = list(slos)
        t = self.clock() if eval_time is None else float(eval_time)
        probed = [s for s in slos if s.is_probe]
        observations, by_probe = await asyncio.gather(
            self.observe((s.query for s in slos if not s.is_probe), t), judge_now(probed, self.probe_context, t))
        return Tick(eval_time=t, verdicts=tuple(by_probe[s.name] if s.is_probe
                                                else judge_instant(s, t, observations[_key(s.query)]) for s in slos))

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
        probed = [s for s in slos if s.is_probe]
        now_verdicts = await judge_now(probed, self.probe_context, stop) if probed else {}
        unique = list(dict.fromkeys(_key(s.query) for s in slos if not s.is_probe))

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
            if slo.is_probe:  # a probe has no history: judged once, now
                v = now_verdicts[slo.name]
                status: Literal["ok", "breached", "no-data", "unavailable"] = "ok" if v.holds else "breached"
                out.append(WindowResult(slo=slo.name, status=status, objective=v.objective, query=v.query,
                                        start=stop, end=stop, step_s=step, worst_value=v.value, worst_time=stop,
                                        steps=1, breaching_steps=0 if v.holds else 1,
                                        first_breach=None if v.holds else stop,
                                        error=(v.error + "; " if v.error else "") + "a probe has no history: "
                                        "judged once, now", query_seconds=v.query_seconds))
                continue
            a = answers[_key(slo.query)]
            if a.failure is not None:
                out.append(window_failure(slo, start, stop, step, a.failure, a.error, a.seconds))
            else:
                out.append(judge_window(slo, a.series, start, stop, step, a.seconds))
        return out

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Stop the probes; release the connection and worker pool (only when the monitor created the client)."""
        loops = [loop for probes in self._probes.values() for loop in probes.values()]
        self._probes.clear()
        await asyncio.gather(*(loop.stop() for loop in loops))
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
    """The answer of one range query: its series, or why there are none."""

    series: tuple[RangeSeries, ...]
    failure: Failure | None
    error: str
    seconds: float


def verdicts_of(ticks: Mapping[str, Tick], subscriber: str) -> dict[str, Verdict]:
    """``{slo: verdict}`` of one subscriber's tick (convenience for the engine and tests)."""
    tick = ticks.get(subscriber)
    return {v.slo: v for v in tick.verdicts} if tick else {}


async def read_bad_ratios(client: PrometheusClient, queries: Mapping[str, str], at: float) -> dict[str, list[float]]:
    """The error-budget gate's queries (window → PromQL, :func:`chaos.slo.budget.gate_queries`) at ``at``:
    window → the values of its series, for :func:`chaos.slo.budget.judge`. Raises
    :class:`~chaos.errors.ChaosError` when Prometheus cannot answer. Callers: the engine's driver
    (``aftershock run``), the game-day runner."""
    bad: dict[str, list[float]] = {}
    for window, query in queries.items():
        points, _took = await client.query(query, at)
        bad[window] = [p.value for p in points]
    return bad
