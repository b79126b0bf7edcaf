"""Scrape-aligned monitoring against a real Prometheus scraping a live exporter every second.

Pure parts (:mod:`chaos.slo.cadence`) first, then the monitor's behaviour: one request per scrape
interval, each evaluation sees a sample the previous one did not, a breach is judged on the first
evaluation after the scrape that shows it, a selector that stops updating is ``no-data``, and a
query Prometheus refuses inside a batch is sent on its own.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import promql_parser
import pytest

from chaos.demo.prometheus import PrometheusServer
from chaos.slo.cadence import (
    LABEL,
    Cadence,
    join,
    member,
    next_evaluation,
    partition,
    pick_phase,
    plan,
    split,
)
from chaos.slo.evaluation import Point
from chaos.slo.monitoring import Monitor, verdicts_of
from chaos.slo.verdicts import Tick

from .conftest import Exporter, Forwarder, slo, spec

# ------------------------------------------------------------------ pure


def test_plan_finds_live_selectors_and_batchability() -> None:
    p = plan('histogram_quantile(0.95, sum by (le) (rate(http_bucket{job="a"}[30s]))) / scalar(up{job="a"})')
    assert p.selectors == ('http_bucket{job="a"}', 'up{job="a"}') and p.batchable and not p.scalar
    assert plan("x offset 5m + y @ 100").selectors == ()  # shifted samples do not move with scrapes
    assert plan("1 + scalar(x)").scalar and plan("time()").scalar
    assert not plan('label_replace(x, "a", "b", "c", "d")').batchable  # string literals stay alone
    assert not plan("sum(").batchable and plan("sum(").selectors == ()


def test_batch_members_are_split_back_by_tag() -> None:
    expr = join([member("q0", plan("x")), member("q1", plan("1"))])
    assert expr == f'label_replace((x), "{LABEL}", "q0", "", "") or label_replace(vector(1), "{LABEL}", "q1", "", "")'
    points = [Point({LABEL: "q0", "a": "1"}, 2.0), Point({LABEL: "q1"}, 1.0), Point({LABEL: "zz"}, 9.0)]
    assert split(points, ["q0", "q1", "q2"]) == {"q0": (Point({"a": "1"}, 2.0),), "q1": (Point({}, 1.0),), "q2": ()}


def _or_depth(node: object) -> int:
    if isinstance(node, promql_parser.ParenExpr):
        return _or_depth(node.expr)
    if isinstance(node, promql_parser.BinaryExpr):
        return 1 + max(_or_depth(node.lhs), _or_depth(node.rhs))
    return 0


def test_join_nests_or_as_a_balanced_tree() -> None:
    members = [member(f"q{i}", plan(f"vector({i})")) for i in range(100)]
    tree = promql_parser.parse(join(members))
    assert _or_depth(tree) == 7  # ceil(log2(100)); a flat chain would nest 99 deep
    assert join(members[:1]) == members[0]
    with pytest.raises(ValueError):
        join([])


def test_batches_share_the_cost_evenly() -> None:
    assert plan("rate(x[20m])").cost > plan("rate(x[1m])").cost > plan("x").cost
    assert plan("max_over_time(rate(x[1m])[5m:30s])").cost == pytest.approx(1 + 10 * 60)  # 10 subquery points
    costs = [1200.0] * 4 + [30.0] * 12 + [1.0] * 8
    groups = partition(costs, 8)
    assert len(groups) == 3 and all(len(g) <= 8 for g in groups)
    assert sorted(i for g in groups for i in g) == list(range(len(costs)))
    totals = [sum(costs[i] for i in g) for g in groups]
    assert max(totals) <= 2 * 1200 + 30  # no group gets three of the expensive queries (window-major would)
    assert partition([], 8) == [] and partition([1.0, 2.0], 8) == [[0, 1]]


def test_cadence_learns_interval_phase_and_lag() -> None:
    c = Cadence(lag_s=0.02)
    assert c.next_fresh(100.0) is None  # nothing known: the timer rules
    c.saw(100.25, 100.3)
    c.guess_interval(60)  # 60 samples in the last minute
    assert c.interval_s == 1.0 and c.next_fresh(100.3) == pytest.approx(101.27)
    assert c.saw(101.25, 101.27) and c.late == 0
    # the sample of 102.25 is not there at 102.27: the lag grows and the next try waits for it
    lag = c.lag_s
    assert not c.saw(101.25, 102.27) and c.late == 1 and c.lag_s == pytest.approx(2 * lag + 0.005)
    assert c.next_fresh(102.27) == pytest.approx(102.25 + c.lag_s)
    assert c.stale(101.25, 102.3) == "" and "old" in c.stale(101.25, 104.4)
    assert "no sample" in c.stale(None, 102.3)


def test_cadence_measures_the_interval_between_two_samples() -> None:
    c = Cadence()
    c.saw(50.5, 50.6)
    c.guess_interval(3)  # a young series: 3 samples → a 20 s guess
    assert c.interval_s == 20.0 and c.wants_previous() == 50.5
    c.saw_previous(49.5)
    assert c.interval_s == 1.0 and c.confirmed and c.wants_previous() is None


def test_after_an_injection_the_next_sample_is_one_scraped_after_it() -> None:
    # a scrape at 100.98, injection at 101.0 while that scrape is still in its ingestion lag (0.05 s):
    # it becomes queryable after the injection but cannot show the fault; the one of 101.98 can
    # (found by CI: the first tick after injection evaluated 2 ms after it)
    c = Cadence(lag_s=0.05)
    c.saw(99.98, 100.0)
    c.guess_interval(60)
    assert c.next_fresh(101.0) == pytest.approx(101.03)  # queryable after 101.0, scraped before it
    assert c.next_fresh(101.0, taken_after=True) == pytest.approx(102.03)
    b = Cadence(lag_s=0.05)
    b.saw(99.5, 100.0)
    b.guess_interval(60)
    assert next_evaluation({"a": c, "b": b}, 101.0) == pytest.approx(101.03)
    assert next_evaluation({"a": c, "b": b}, 101.0, taken_after=True) == pytest.approx(102.03)


def test_one_phase_for_several_targets_minimises_the_worst_staleness() -> None:
    assert pick_phase([0.1], 1.0) == 0.1
    assert pick_phase([0.1, 0.2, 0.9], 1.0) == 0.2  # the gap 0.2 → 0.9 is the largest
    a, b = Cadence(lag_s=0.01), Cadence(lag_s=0.01)
    for c, t in ((a, 10.1), (b, 10.6)):
        c.saw(t, t + 0.02)
        c.guess_interval(60)
    assert next_evaluation({"a": a, "b": b}, 10.7) == pytest.approx(11.11)  # after a's scrape: b's is 0.5 s old
    assert next_evaluation({}, 10.0) is None


# ------------------------------------------------------------------ live


async def _scraped(url: str, samples: int = 1) -> None:
    """Wait (bounded) until Prometheus has scraped the live exporter, ``samples`` times in the last
    minute (two: a monitor's first tick can guess the scrape interval from that count, and stops
    sending the count probe; a young Prometheus has only one)."""
    async with Monitor(spec(url)) as monitor:
        probe = slo("probe", "as_live_latency_seconds", ">", 0) if samples <= 1 else \
            slo("probe", "count_over_time(as_live_latency_seconds[1m])", ">=", samples)
        for _ in range(100):
            if (await monitor.evaluate_now([probe])).verdicts[0].status == "ok":
                return
            await asyncio.sleep(0.1)
    raise AssertionError("Prometheus never scraped the exporter")


async def _ticks(monitor: Monitor, n: int) -> AsyncIterator[tuple[float, dict[str, Tick], float | None]]:
    """``n`` ticks of the monitor's own scrape-aligned loop, with the newest sample each one saw."""
    sel = "as_live_latency_seconds"
    count = 0
    async for t, ticks in monitor.run(align=False):
        cadence = monitor.cadences.get(sel)
        yield t, ticks, cadence.newest if cadence else None
        count += 1
        if count >= n:
            return


async def test_one_request_per_scrape_and_each_evaluation_sees_a_new_sample(
        prom: PrometheusServer, exporter: Exporter) -> None:
    await _scraped(prom.url)
    fwd = Forwarder(prom.url)
    try:
        # interval 5s is only the upper bound: the scrapes (every 1s) pace the monitor
        async with Monitor(spec(fwd.url, interval="5s")) as monitor:
            monitor.add("run", [slo("live", "as_live_latency_seconds", "<", 0.5)])
            seen: list[tuple[float, float | None, int]] = []
            async for t, ticks, newest in _ticks(monitor, 9):
                assert verdicts_of(ticks, "run")["live"].status == "ok"
                seen.append((t, newest, len(fwd.queries)))
            cadence = monitor.cadences["as_live_latency_seconds"]
        assert cadence.confirmed and cadence.interval_s == pytest.approx(1.0, abs=0.01)
        steady = seen[2:]  # the first two ticks learn the cadence
        newest = [n for _, n, _ in steady]
        assert all(n is not None for n in newest)
        fresh = sum(1 for a, b in itertools.pairwise(newest) if b > a)  # type: ignore[operator]
        repeats = len(newest) - 1 - fresh  # evaluations that came before the sample (lag learning)
        assert repeats <= 2
        scrapes = round((newest[-1] - newest[0]) / cadence.interval_s)  # type: ignore[operator]
        requests = steady[-1][2] - steady[0][2]
        # about one request per scrape, and no scrape skipped: every fresh tick saw the next sample
        assert requests <= 1.2 * scrapes + 1 and scrapes <= fresh + 1
    finally:
        fwd.close()


async def test_breach_is_judged_on_the_first_evaluation_after_the_scrape_that_shows_it(
        prom: PrometheusServer, exporter: Exporter) -> None:
    await _scraped(prom.url)
    async with Monitor(spec(prom.url, interval="5s")) as monitor:
        monitor.add("run", [slo("live", "as_live_latency_seconds", "<", 0.5)])
        set_at: float | None = None
        statuses: list[tuple[float | None, str]] = []
        try:
            async for _, ticks, newest in _ticks(monitor, 8):
                statuses.append((newest, verdicts_of(ticks, "run")["live"].status))
                if len(statuses) == 4:
                    exporter.latency.set(0.9)
                    set_at = time.time()
        finally:
            exporter.latency.set(0.1)
    assert set_at is not None
    after = [status for newest, status in statuses[4:] if newest is not None and newest > set_at]
    before = [status for newest, status in statuses if newest is not None and newest < set_at - 0.01]
    assert after and all(s == "breached" for s in after)
    assert before and all(s == "ok" for s in before)


async def test_a_selector_that_stops_updating_is_no_data_not_holding() -> None:
    own = Exporter()
    server = PrometheusServer({"own": [f"127.0.0.1:{own.port}"]}, scrape_interval="1s")
    stopped = False
    with server:
        await _scraped(server.url)
        # max_over_time would keep answering 0.1 for a minute after the exporter is gone
        watch = slo("live", "max_over_time(as_live_latency_seconds[1m])", "<", 0.5)
        async with Monitor(spec(server.url, interval="5s", error_tolerance=10)) as monitor:
            monitor.add("run", [watch])
            statuses: list[str] = []
            async for _, ticks, _ in _ticks(monitor, 12):
                verdict = verdicts_of(ticks, "run")["live"]
                statuses.append(verdict.status)
                if not stopped and monitor.cadences.get("as_live_latency_seconds") is not None \
                        and monitor.cadences["as_live_latency_seconds"].confirmed and verdict.status == "ok":
                    own.close()
                    stopped = True
                elif stopped and verdict.status == "no-data":
                    assert "stopped updating" in verdict.error
                    still, _ = await monitor.client.query(watch.query, time.time())
                    assert still and still[0].value == pytest.approx(0.1)  # the raw query still "holds"
                    break
    assert stopped and statuses[-1] == "no-data"


async def test_a_query_refused_inside_a_batch_is_sent_on_its_own(prom: PrometheusServer,
                                                                 forwarder: Forwarder) -> None:
    await _scraped(prom.url)
    good = slo("good", "max(as_live_latency_seconds)", ">", 0)  # met whatever an earlier test set the gauge to
    # both series lose their name and keep the same labels: refused at evaluation time (HTTP 422)
    bad = slo("bad", '{__name__=~"as_live_latency_seconds|up"} + 1', "<", 1)
    async with Monitor(spec(forwarder.url)) as monitor:
        monitor.add("run", [good, bad])
        first = verdicts_of(await monitor.tick(), "run")
        assert first["good"].status == "ok" and first["bad"].failure == "query"
        forwarder.reset()
        second = verdicts_of(await monitor.tick(), "run")
    assert second["good"].status == "ok", second["good"].error
    assert second["bad"].failure == "query"
    assert len(forwarder.queries) == 2 and bad.query in forwarder.queries  # the batch, and the bad one alone


async def test_interval_stays_the_upper_bound(prom: PrometheusServer, exporter: Exporter) -> None:
    await _scraped(prom.url)
    async with Monitor(spec(prom.url, interval="200ms")) as monitor:
        monitor.add("run", [slo("live", "as_live_latency_seconds", "<", 0.5)])
        for _ in range(3):
            await monitor.tick()
            await asyncio.sleep(0)
        now = time.time()
        assert monitor.cadences["as_live_latency_seconds"].known
        assert monitor.next_due("run", now) <= now + 0.2
        assert now < monitor.next_due("run", now, 5.0) <= now + 1.0 + 0.3  # the next scrape, not 5 s
        assert monitor.next_due("unknown", now) == pytest.approx(now + 0.2)


async def test_a_batch_refused_while_each_member_passes_is_split(forwarder: Forwarder) -> None:
    forwarder.refuse_batches = True
    slos = [slo(f"s{i}", f"vector({i})", "==", i) for i in range(4)]
    async with Monitor(spec(forwarder.url)) as monitor:
        monitor.add("run", slos)
        first = verdicts_of(await monitor.tick(), "run")
        assert all(first[f"s{i}"].status == "ok" for i in range(4))  # answered one by one
        assert monitor.batch_members == 2
        verdicts_of(await monitor.tick(), "run")
        assert monitor.batch_members == 1  # two members still too many for this "Prometheus"
        forwarder.reset()
        third = verdicts_of(await monitor.tick(), "run")
    assert all(third[f"s{i}"].status == "ok" for i in range(4)) and len(forwarder.queries) == 4


async def test_a_large_tick_is_cut_into_requests_of_equal_cost(prom: PrometheusServer, forwarder: Forwarder,
                                                               exporter: Exporter) -> None:
    await _scraped(prom.url, samples=2)  # the count probe is sent on the first tick only
    windows = ["5s", "10s", "30s", "1m", "2m"]
    slos = [slo(f"w{i}", f"max_over_time(as_live_latency_seconds[{w}])", ">", 0) for i, w in enumerate(windows)]
    slos += [slo(f"v{i}", f"vector({i})", "==", i) for i in range(30)]
    async with Monitor(spec(forwarder.url)) as monitor:
        monitor.batch_members = 8
        monitor.add("run", slos)
        await monitor.tick()
        forwarder.reset()
        verdicts = verdicts_of(await monitor.tick(), "run")
    assert all(v.status == "ok" for v in verdicts.values()), [(v.slo, v.status, v.error) for v in verdicts.values()]
    assert all(verdicts[f"v{i}"].value == i for i in range(30))
    members = 35 + 1  # the queries and the newest-sample probe of the one selector
    assert monitor.last_tick_requests == len(forwarder.queries) == -(-members // 8)
    # the five windowed queries are spread over the requests instead of sharing one
    assert [q.count("as_live_latency_seconds[") for q in forwarder.queries] == [1] * 5
