"""The monitor against a real Prometheus over backfilled, exact series: the tick at which each verdict flips."""

from __future__ import annotations

import math

import pytest

from chaos.demo.prometheus import PrometheusServer
from chaos.slo.monitoring import Monitor, verdicts_of
from chaos.slo.verdicts import MONITOR

from .conftest import BASE, slo, spec

LATENCY = "as_latency_seconds"
ERRORS = "as_error_ratio"
TIMEOUTS = "sum(increase(as_timeouts_total[15s]))"


async def run_ticks(prom: PrometheusServer, slos: list, ks: range, **settings: object) -> dict[int, dict]:
    async with Monitor(spec(prom.url, **settings)) as monitor:
        monitor.add("run-1", slos)
        out = {}
        for k in ks:
            out[k] = verdicts_of(await monitor.tick(BASE + k), "run-1")
        return out


async def test_for_flips_at_the_exact_tick(prom: PrometheusServer) -> None:
    ticks = await run_ticks(prom, [slo("p95", LATENCY, "<", 0.8, **{"for": "5s"})], range(25, 66))
    status = {k: v["p95"].status for k, v in ticks.items()}
    assert all(status[k] == "ok" for k in range(25, 30))
    assert all(status[k] == "pending" for k in range(30, 35))
    assert all(status[k] == "breached" for k in range(35, 60))
    assert all(status[k] == "ok" for k in range(60, 66))
    fired = ticks[35]["p95"]
    assert fired.pending_since == BASE + 30 and fired.consecutive == 6 and fired.value == 0.9
    assert fired.eval_time == BASE + 35 and fired.query == LATENCY and fired.objective == "< 0.8"
    assert fired.for_s == 5 and fired.query_seconds > 0
    assert ticks[35][MONITOR].status == "ok"


async def test_consecutive_counts_ticks_and_for_counts_evaluation_time(prom: PrometheusServer) -> None:
    ticks = await run_ticks(prom, [slo("p95", LATENCY, "<", 0.8, consecutive=3)], range(28, 34))
    assert [ticks[k]["p95"].status for k in range(28, 34)] == ["ok", "ok", "pending", "pending", "breached",
                                                               "breached"]
    # every 2 s of evaluation time: for 5s fires at the first tick >= 5 s after the first breach
    ticks = await run_ticks(prom, [slo("p95", LATENCY, "<", 0.8, **{"for": "5s"})], range(28, 40, 2))
    assert [ticks[k]["p95"].status for k in range(28, 40, 2)] == ["ok", "pending", "pending", "pending",
                                                                  "breached", "breached"]


async def test_vector_names_the_breaching_series(prom: PrometheusServer) -> None:
    ticks = await run_ticks(prom, [slo("errors", ERRORS, "<", 0.05)], range(38, 52))
    assert ticks[39]["errors"].status == "ok"
    at40 = ticks[40]["errors"]
    assert at40.status == "breached" and at40.value == 0.2
    assert [s.labels["service"] for s in at40.breaching_series] == ["b"]
    at50 = ticks[50]["errors"]
    assert sorted(s.labels["service"] for s in at50.breaching_series) == ["b", "c"] and at50.value == 0.3
    assert len(at50.series) == 3


async def test_counter_increase_flips_and_recovers(prom: PrometheusServer) -> None:
    ticks = await run_ticks(prom, [slo("timeouts", TIMEOUTS, "==", 0)], range(48, 67))
    status = {k: v["timeouts"].status for k, v in ticks.items()}
    assert status[49] == "ok" and status[50] == "breached" and status[64] == "breached" and status[65] == "ok"
    assert ticks[50]["timeouts"].value == 3


async def test_no_data_nan_empty_and_inf(prom: PrometheusServer) -> None:
    slos = [slo("nan", "as_nan", "<", 1), slo("empty", "as_does_not_exist", "<", 1),
            slo("inf", "as_inf", "<", 1), slo("inf-ok", "as_inf", ">", 1),
            slo("scalar", f"scalar({LATENCY})", "<", 0.8), slo("scalar-nan", f"scalar({ERRORS})", "<", 1),
            slo("partial", "as_partial", "<", 0.05)]
    ticks = await run_ticks(prom, slos, range(40, 43), error_tolerance=3)
    first, last = ticks[40], ticks[42]
    for name in ("nan", "empty", "scalar-nan"):
        assert first[name].status == "no-data" and first[name].failure == "no-data", name
        assert last[name].status == "unavailable" and last[name].failed_polls == 3, name
    assert first["inf"].status == "breached" and first["inf"].value == math.inf
    assert first["inf-ok"].status == "ok"
    assert first["scalar"].status == "breached" and first["scalar"].series[0].labels == {}
    assert first["partial"].status == "ok" and "NaN series ignored" in first["partial"].error
    assert first[MONITOR].status == "no-data" and last[MONITOR].status == "unavailable"
    # before the first sample there is nothing at all
    ticks = await run_ticks(prom, [slo("p95", LATENCY, "<", 0.8)], range(-600, -599))
    assert ticks[-600]["p95"].status == "no-data"


async def test_many_series(prom: PrometheusServer) -> None:
    ticks = await run_ticks(prom, [slo("many", "as_many", "<", 293)], range(100, 101))
    v = ticks[100]["many"]
    assert len(v.series) == 300 and v.value == 299
    assert sorted(int(s.labels["i"]) for s in v.breaching_series) == list(range(293, 300))


async def test_evaluate_now_and_window(prom: PrometheusServer) -> None:
    p95 = slo("p95", LATENCY, "<", 0.8, **{"for": "5s"})
    async with Monitor(spec(prom.url)) as monitor:
        now = await monitor.evaluate_now([p95, slo("errors", ERRORS, "<", 0.05)], BASE + 30)
        assert [v.status for v in now.verdicts] == ["breached", "ok"]  # one instant: for does not apply
        window, = await monitor.evaluate_window([p95], 90, 1, end=BASE + 90)
        assert (window.status, window.worst_value, window.worst_time) == ("breached", 0.9, BASE + 30)
        assert window.first_breach == BASE + 35 and window.breaching_steps == 30
        calm, = await monitor.evaluate_window([p95], 60, 1, end=BASE + 120)
        assert calm.status == "ok" and calm.worst_value == 0.4 and calm.steps == 61
        before, = await monitor.evaluate_window([p95], 60, 1, end=BASE + 20)
        assert before.status == "no-data" and before.missing_steps > 0


@pytest.mark.parametrize(("op", "value", "expected"), [("<", 1.0, "ok"), ("<", 0.9, "breached"), ("<=", 0.9, "ok"), (">", 0.9, "breached"),
                                                       (">=", 0.9, "ok"), ("==", 0.9, "ok"), ("!=", 0.9, "breached")])
async def test_operators(prom: PrometheusServer, op: str, value: float, expected: str) -> None:
    ticks = await run_ticks(prom, [slo("p95", LATENCY, op, value)], range(40, 41))
    assert ticks[40]["p95"].status == expected
