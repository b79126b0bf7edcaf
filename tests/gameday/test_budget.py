"""The game day's error-budget gate against a real Prometheus: the budget and multi-window burn
rates are computed from the SLO's own objective over backfilled series (exact, repeatable)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.experiments import proxy_delay_experiment, slo

from chaos.demo.prometheus import PrometheusServer, Sample, openmetrics
from chaos.engine.driver import EngineSettings
from chaos.gameday.loading import load_gameday
from chaos.gameday.runner import read_gate
from chaos.model.slos import Gate, Slo
from chaos.slo.budget import bad_ratio_query, judge

END = int(time.time()) // 60 * 60 - 3600  # an hour ago: backfilled blocks are older than the head
START = END - 2 * 3600


def _series() -> list[Sample]:
    out = []
    for t in range(START, END + 1, 15):
        # steady: always within the objective (< 0.5); burning: out of it for the last 30 minutes
        out.append(Sample("gd_latency_seconds", {"svc": "steady"}, 0.1, t))
        out.append(Sample("gd_latency_seconds", {"svc": "burning"}, 0.9 if t > END - 1800 else 0.1, t))
        # slow: out of objective 1 sample in 50 (2 % of the time, twice a 1 % budget)
        out.append(Sample("gd_latency_seconds", {"svc": "slow"}, 0.9 if (t // 15) % 50 == 0 else 0.1, t))
    return out


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer(backfill_text=openmetrics(_series())) as server:
        yield server


def gameday(tmp_path: Path, prom: PrometheusServer, svc: str, gate: str) -> Path:
    (tmp_path / "exp.yaml").write_text(proxy_delay_experiment(
        "exp", prom.url, [slo("latency", f'max(gd_latency_seconds{{svc="{svc}"}})', "<", 0.5)], port=18999,
        duration="1s", monitor={"interval": "1s"}))
    path = tmp_path / "gd.yaml"
    path.write_text(f"""apiVersion: aftershock/v1alpha1
kind: GameDay
metadata: {{name: drill}}
spec:
  experiments: [{{file: exp.yaml}}]
  gate: {gate}
""")
    return path


async def gate_of(tmp_path: Path, prom: PrometheusServer, svc: str, gate: str):  # type: ignore[no-untyped-def]
    lgd = load_gameday(gameday(tmp_path, prom, svc, gate))
    return await read_gate(lgd, EngineSettings(state_dir=tmp_path), now=END)


async def test_steady_service_opens_the_gate(tmp_path: Path, prom: PrometheusServer) -> None:
    reading = await gate_of(tmp_path, prom, "steady", "{slo: latency, minBudget: 20, maxBurnRate: 2}")
    assert reading is not None and reading.open
    assert reading.budget_left == 100.0 and reading.burn_rates == {"1h": 0.0, "5m": 0.0}


async def test_burning_in_every_window_closes_the_gate(tmp_path: Path, prom: PrometheusServer) -> None:
    reading = await gate_of(tmp_path, prom, "burning", "{slo: latency, maxBurnRate: 2}")
    assert reading is not None and not reading.open
    assert reading.burn_rates is not None
    assert reading.burn_rates["5m"] == pytest.approx(100.0)  # all 5 minutes bad, 1 % allowed
    assert reading.burn_rates["1h"] == pytest.approx(50.0, rel=0.05)  # half the hour bad
    assert "above maxBurnRate 2 in every window" in reading.reason


async def test_budget_below_min_closes_the_gate(tmp_path: Path, prom: PrometheusServer) -> None:
    # 2 % of the time out of objective against a 1 % budget: the budget is spent twice over
    reading = await gate_of(tmp_path, prom, "slow", "{slo: latency, minBudget: 20, window: 2h}")
    assert reading is not None and not reading.open
    # the 2h window's subquery grid (24 s) sees 6 to 8 of the 9-10 isolated bad 15 s samples, depending on
    # the phase of END (an hour ago): 2 %-2.67 % bad → between 100 % and 167 % of the budget spent
    assert reading.budget_left == pytest.approx(-133.0, abs=40)
    assert "below minBudget 20%" in reading.reason
    # a looser target (95 %) leaves most of it
    reading = await gate_of(tmp_path, prom, "slow", "{slo: latency, minBudget: 20, window: 2h, target: 95}")
    assert reading is not None and reading.open and reading.budget_left == pytest.approx(53.0, abs=10)  # 47-60 %


async def test_short_window_alone_does_not_close_on_burn(tmp_path: Path, prom: PrometheusServer) -> None:
    # "slow" has isolated bad samples: a 5m window may burn fast, the 1h one stays near 2x
    reading = await gate_of(tmp_path, prom, "slow", "{slo: latency, maxBurnRate: 3}")
    assert reading is not None and reading.open


async def test_no_data_or_no_prometheus_closes_the_gate(tmp_path: Path, prom: PrometheusServer) -> None:
    reading = await gate_of(tmp_path, prom, "nothing", "{slo: latency, maxBurnRate: 2}")
    assert reading is not None and not reading.open and "(no data); not starting without it" in reading.reason
    lgd = load_gameday(gameday(tmp_path, prom, "steady", "{slo: latency, maxBurnRate: 2}"))
    down = await read_gate(lgd, EngineSettings(state_dir=tmp_path, prometheus="http://127.0.0.1:9"), now=END)
    assert down is not None and not down.open and "cannot read the error budget of SLO latency" in down.reason


def test_queries_come_from_the_objective() -> None:
    slo = Slo.model_validate({"name": "p95", "query": "q", "objective": {"op": "<=", "value": 0.8}})
    assert bad_ratio_query(slo, "1h") == "1 - avg_over_time(((q) <= bool 0.8)[1h:12s])"
    gate = Gate(slo="p95", max_burn_rate=2)
    assert not judge(gate, {"1h": [0.5], "5m": [1.0]}).open
    assert judge(gate, {"1h": [0.001], "5m": [1.0]}).open  # the long window is not burning
