"""The error-budget gate (``spec.gate``) refuses to start a run while the budget is low.

A real Prometheus answers the budget query (a constant PromQL vector, so the value is exact);
the run itself goes through the real engine with a run-owned fault proxy on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.experiments import proxy_delay_experiment, slo

from chaos.clients.state import StateStore
from chaos.demo.prometheus import PrometheusServer
from chaos.engine import events as ev
from chaos.engine.driver import Engine, EngineSettings
from chaos.loading import load_text


@pytest.fixture(scope="module")
def prom() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


async def run(prom: PrometheusServer, tmp_path: Path, budget: str, minimum: float
              ) -> tuple[ev.RunFinished, list[ev.RunEvent], StateStore]:
    loaded = load_text(proxy_delay_experiment("gated", prom.url, [slo("budget", f"vector({budget})", ">=", 0)],
                                              gate={"slo": "budget", "minBudget": minimum}), "gated.yaml")
    engine = Engine(EngineSettings(state_dir=tmp_path))
    seen: list[ev.RunEvent] = []
    engine.subscribe(seen.append)
    return await engine.run(loaded), seen, engine.store


async def test_low_budget_refuses_before_anything_is_recorded(prom: PrometheusServer, tmp_path: Path) -> None:
    finished, seen, store = await run(prom, tmp_path, "12.5", 20)
    assert (finished.verdict, finished.exit_code) == ("invalid", 2)
    refused = next(e for e in seen if isinstance(e, ev.PreflightRefused))
    assert "12.5% of the error budget left, below minBudget 20%" in refused.reason
    assert not any(isinstance(e, ev.FaultRecorded | ev.FaultInjected) for e in seen)
    assert store.faults() == []


async def test_no_budget_data_refuses(prom: PrometheusServer, tmp_path: Path) -> None:
    loaded_budget = "NaN"
    finished, seen, _ = await run(prom, tmp_path, loaded_budget, 20)
    assert finished.verdict == "invalid"
    refused = next(e for e in seen if isinstance(e, ev.PreflightRefused))
    assert "cannot read the remaining budget" in refused.reason


async def test_enough_budget_lets_the_run_start(prom: PrometheusServer, tmp_path: Path) -> None:
    finished, seen, store = await run(prom, tmp_path, "80", 20)
    passed = next(e for e in seen if isinstance(e, ev.PreflightPassed))
    assert "error-budget gate: 80% left (minBudget 20%)" in passed.checks
    assert finished.verdict == "passed", finished.reason
    assert [e.fault for e in seen if isinstance(e, ev.FaultRemoved)] == ["slow"]
    assert store.faults(live_only=True) == []
