"""Live scraping: an exporter scraped every second; the monitor sees its changes within a few ticks."""

from __future__ import annotations

import asyncio
import itertools
import time

from chaos.demo.prometheus import PrometheusServer
from chaos.slo.monitoring import Monitor, verdicts_of

from .conftest import Exporter, slo, spec

LIVE = 'as_live_latency_seconds{job="exporter"}'


async def wait_for_value(monitor: Monitor, query: str, value: float, bound_s: float = 15.0) -> None:
    """Bounded poll of Prometheus itself until it has scraped ``value``."""
    probe = slo("probe", query, "==", value)
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        verdict = (await monitor.evaluate_now([probe])).verdicts[0]
        if verdict.status == "ok":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus did not scrape {query} == {value} within {bound_s}s")


async def test_detects_a_live_breach_within_expected_ticks(prom: PrometheusServer, exporter: Exporter) -> None:
    exporter.latency.set(0.1)
    async with Monitor(spec(prom.url, interval="500ms")) as monitor:
        await wait_for_value(monitor, LIVE, 0.1)
        monitor.add("live", [slo("p95", LIVE, "<", 0.8, consecutive=2)])
        ticks = monitor.run()
        _, first = await anext(ticks)
        assert verdicts_of(first, "live")["p95"].status == "ok"
        exporter.latency.set(2.0)
        seen: list[str] = []
        async for _, tick in ticks:
            seen.append(verdicts_of(tick, "live")["p95"].status)
            if seen[-1] == "breached" or len(seen) >= 12:
                break
        # scrape every 1 s + 2 consecutive ticks at 0.5 s: ~2-3 ticks, bound 10 for a loaded box
        assert seen[-1] == "breached", seen
        assert seen.count("pending") == 1 and len(seen) <= 10, seen
        exporter.latency.set(0.1)
        recovered: list[str] = []
        async for _, tick in ticks:
            recovered.append(verdicts_of(tick, "live")["p95"].status)
            if recovered[-1] == "ok" or len(recovered) >= 12:
                break
        assert recovered[-1] == "ok" and len(recovered) <= 10, recovered
        await ticks.aclose()
    exporter.latency.set(0.1)


async def test_run_aligns_evaluation_times(prom: PrometheusServer) -> None:
    async with Monitor(spec(prom.url)) as monitor:
        monitor.add("s", [slo("one", "vector(1)", "==", 1)])
        ticks = monitor.run(0.25)
        times = [(await anext(ticks))[0] for _ in range(3)]
        await ticks.aclose()
    assert all(abs(t / 0.25 - round(t / 0.25)) < 1e-6 for t in times)
    assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [0.25, 0.25]
